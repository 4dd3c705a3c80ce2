// The environment variables of the bin, with their defaults: the single list that --help prints and the README
// mirrors. Each issue that adds a variable adds it here.

export interface EnvVariable {
  name: string;
  default?: string;
  description: string;
  /** Groups for --help. */
  group: 'pipeline' | 'limits' | 'http' | 'azure' | 'logging';
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
  { group: 'azure', name: 'SERVICEBUS_CONNECTION_STRING', secret: true, description: 'azuresb://: the namespace connection string (Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...); add UseDevelopmentEmulator=true for a local emulator' },
  { group: 'azure', name: 'AZURE_SERVICEBUS_HOSTNAME', description: 'azuresb://: the namespace host (<namespace>.servicebus.windows.net), signed in with the default Azure credential, when SERVICEBUS_CONNECTION_STRING is not set' },
  { group: 'logging', name: 'LOG_LEVEL', default: 'info', description: 'trace, debug, info, warn, error or fatal (per-message logs are debug)' },
];
