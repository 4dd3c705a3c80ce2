// The environment variables of the bin, with their defaults: the single list that --help prints and the README
// mirrors. Each issue that adds a variable adds it here.

export interface EnvVariable {
  name: string;
  default?: string;
  description: string;
  /** Groups for --help. */
  group: 'pipeline' | 'limits' | 'http' | 'nats' | 'rabbit' | 'logging';
  /** Never printed: tokens, passwords. */
  secret?: boolean;
}

export const ENV_VARIABLES: EnvVariable[] = [
  { group: 'pipeline', name: 'SOURCE_URI', default: 'http://:9000/events', description: 'where messages come from' },
  { group: 'pipeline', name: 'SINK_URI', default: 'stdout://', description: 'where they go; several, comma-separated, fan out (acked when all confirmed)' },
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
  { group: 'nats', name: 'NATS_SERVER_URL', default: '127.0.0.1:4222', description: 'NATS server(s): host:port or nats:// / tls:// URLs, comma-separated; user:password@ or token@ in a URL also work' },
  { group: 'nats', name: 'NATS_USER', description: 'user name for NATS (with NATS_PASSWORD)' },
  { group: 'nats', name: 'NATS_PASSWORD', secret: true, description: 'password for NATS_USER' },
  { group: 'nats', name: 'NATS_TOKEN', secret: true, description: 'token for NATS token authentication' },
  { group: 'nats', name: 'NATS_CREDS', description: 'path of a NATS .creds file (user JWT and nkey seed, as nsc writes)' },
  { group: 'nats', name: 'NATS_TLS_CA', description: 'PEM file of the CA that signed the NATS server certificate (turns TLS on)' },
  { group: 'nats', name: 'NATS_TLS_CERT', description: 'PEM client certificate for NATS (with NATS_TLS_KEY)' },
  { group: 'nats', name: 'NATS_TLS_KEY', description: 'PEM key of NATS_TLS_CERT' },
  { group: 'nats', name: 'NATS_CONNECT_TIMEOUT', default: '30s', description: 'how long the first NATS connection is retried before start-up fails (later losses reconnect forever)' },
  { group: 'rabbit', name: 'RABBIT_SERVER_URL', default: 'amqp://guest:guest@127.0.0.1:5672/', description: 'RabbitMQ broker: amqp://user:password@host:5672/vhost (or amqps://)' },
  { group: 'rabbit', name: 'RABBIT_CONNECT_TIMEOUT', default: '30s', description: 'how long the first RabbitMQ connection is retried before start-up fails (later losses reconnect with backoff)' },
  { group: 'logging', name: 'LOG_LEVEL', default: 'info', description: 'trace, debug, info, warn, error or fatal (per-message logs are debug)' },
];
