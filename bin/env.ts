// The environment variables of the bin, with their defaults: the single list that --help prints and the README
// mirrors. Each issue that adds a variable adds it here.

export interface EnvVariable {
  name: string;
  default?: string;
  description: string;
  /** Groups for --help. */
  group: 'pipeline' | 'limits' | 'http' | 'logging' | 'admin';
  /** Never printed: tokens, passwords. */
  secret?: boolean;
}

export const ENV_VARIABLES: EnvVariable[] = [
  { group: 'pipeline', name: 'SOURCE_URI', default: 'http://:9000/events', description: 'where messages come from' },
  { group: 'pipeline', name: 'SINK_URI', default: 'stdout://', description: 'where they go; several, comma-separated, fan out (acked when all confirmed)' },
  { group: 'pipeline', name: 'CACHE_URI', default: 'memory://', description: 'the cache of the cache operators and wasm modules: memory://?max=&ttl=, redis://[user:pass@]host:6379/0?prefix=, rediss://..., nats-kv://bucket?ttl= (on NATS_SERVER_URL)' },
  { group: 'pipeline', name: 'NATS_SERVER_URL', default: 'nats://127.0.0.1:4222', description: 'NATS servers for nats:// and nats-kv://: host:port or nats://[user:pass@]host:port, several comma-separated; 0.0.0.0 means this machine' },
  { group: 'pipeline', name: 'DEAD_LETTER_URI', description: 'where a message goes after a permanent failure or too many deliveries; the original is then acked' },
  { group: 'limits', name: 'MAX_IN_FLIGHT', default: '1024', description: 'most unsettled messages at once (the credit window)' },
  { group: 'limits', name: 'ACK_TIMEOUT', default: '2m', description: 'a message unsettled this long is nacked, with a warning naming where it was last seen (0 = off)' },
  { group: 'limits', name: 'MAX_DELIVERIES', default: '5', description: 'deliveries before a message goes to DEAD_LETTER_URI (sources that count deliveries)' },
  { group: 'limits', name: 'SHUTDOWN_TIMEOUT', default: '30s', description: 'on SIGTERM/SIGINT, how long to wait for in-flight messages before nacking them' },
  { group: 'limits', name: 'SINK_CONCURRENCY', description: 'writes in progress at once per sink (default per connector: HTTP 32)' },
  { group: 'limits', name: 'SINK_MAX_ATTEMPTS', default: '5', description: 'attempts per message for retryable sink errors, with exponential backoff and jitter' },
  { group: 'http', name: 'HTTP_MAX_BODY', default: '1mb', description: 'largest request body the HTTP source takes (413 above it)' },
  { group: 'http', name: 'HTTP_SOURCE_TOKEN', secret: true, description: 'when set, the HTTP source requires Authorization: Bearer <token> (401 otherwise)' },
  { group: 'http', name: 'HTTP_SOURCE_HMAC_SECRET', secret: true, description: 'when set, the HTTP source requires X-Signature-256: sha256=<hex HMAC-SHA256 of the body>' },
  { group: 'http', name: 'HTTP_TLS_CERT', description: 'PEM certificate file for an https:// source' },
  { group: 'http', name: 'HTTP_TLS_KEY', description: 'PEM key file for an https:// source' },
  { group: 'http', name: 'HTTP_SINK_METHOD', default: 'POST', description: 'method of the HTTP sink: POST or PUT' },
  { group: 'http', name: 'HTTP_SINK_TIMEOUT', default: '30s', description: 'HTTP sink timeout per request (a timeout is retried)' },
  { group: 'logging', name: 'LOG_LEVEL', default: 'info', description: 'trace, debug, info, warn, error or fatal (per-message logs are debug)' },
  { group: 'logging', name: 'LOG_FORMAT', description: 'pretty (one readable line per event) or json (one JSON object per line); default pretty on a terminal, json otherwise' },
  { group: 'logging', name: 'STATS_INTERVAL', default: '10s', description: 'a stats line at info this often (rates in and out, in flight, acked/nacked/dead-lettered); 0 = off' },
  { group: 'admin', name: 'ADMIN_PORT', default: '4195', description: 'port of the admin server: /ping (liveness), /ready (readiness), /metrics (Prometheus); 0 = off' },
  { group: 'admin', name: 'ADMIN_HOST', default: '127.0.0.1', description: 'address the admin server binds to; 0.0.0.0 for every interface (needed for container probes)' },
  { group: 'admin', name: 'ADMIN_TLS_CERT', description: 'PEM certificate file: serve the admin server over HTTPS (with ADMIN_TLS_KEY)' },
  { group: 'admin', name: 'ADMIN_TLS_KEY', description: 'PEM key file of ADMIN_TLS_CERT' },
];
