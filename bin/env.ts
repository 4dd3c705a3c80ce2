// The environment variables of the bin, with their defaults: the single list that --help prints and the README
// mirrors. Each issue that adds a variable adds it here.

export interface EnvVariable {
  name: string;
  default?: string;
  description: string;
  /** Groups for --help. */
  group: 'pipeline' | 'limits' | 'http' | 'kafka' | 'logging';
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
  { group: 'kafka', name: 'KAFKA_BROKERS', description: 'the Kafka brokers, comma-separated host:port (required for kafka://), e.g. 10.0.0.1:9092,10.0.0.2:9092' },
  { group: 'kafka', name: 'KAFKA_CLIENT_ID', default: 'wasm-pipes', description: 'the client id the brokers see' },
  { group: 'kafka', name: 'KAFKA_SSL', default: 'false', description: 'true to connect with TLS' },
  { group: 'kafka', name: 'KAFKA_SASL_MECHANISM', description: 'plain, scram-sha-256 or scram-sha-512 to authenticate with SASL' },
  { group: 'kafka', name: 'KAFKA_USERNAME', description: 'SASL user name' },
  { group: 'kafka', name: 'KAFKA_PASSWORD', secret: true, description: 'SASL password' },
  { group: 'kafka', name: 'KAFKA_COMMIT_INTERVAL', default: '1s', description: 'how often a kafka:// source commits the settled prefix of each partition (also at rebalance and shutdown)' },
  { group: 'kafka', name: 'KAFKA_SESSION_TIMEOUT', default: '30s', description: 'consumer group session timeout: how long before the group gives a dead member\'s partitions to others' },
  { group: 'kafka', name: 'KAFKA_MAX_MESSAGE_BYTES', default: '1mb', description: 'largest record the kafka:// sink sends (larger ones fail permanently: dead letter or nack)' },
  { group: 'logging', name: 'LOG_LEVEL', default: 'info', description: 'trace, debug, info, warn, error or fatal (per-message logs are debug)' },
];
