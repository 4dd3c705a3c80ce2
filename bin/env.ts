// The environment variables of the bin, with their defaults: the single list that --help prints and the README
// mirrors. Each issue that adds a variable adds it here.

export interface EnvVariable {
  name: string;
  default?: string;
  description: string;
  /** Groups for --help. */
  group: keyof typeof ENV_GROUPS;
  /** Never printed: tokens, passwords. */
  secret?: boolean;
}

/** The --help sections, in order. */
export const ENV_GROUPS = {
  pipeline: 'Pipeline',
  wasm: 'WebAssembly',
  limits: 'Limits and delivery',
  http: 'HTTP',
  nats: 'NATS',
  rabbit: 'RabbitMQ',
  kafka: 'Kafka',
  aws: 'AWS (awssqs://, awssns://)',
  gcp: 'Google Cloud Pub/Sub',
  azure: 'Azure Service Bus',
  logging: 'Logging',
  admin: 'Admin server (health checks and metrics)',
} as const;

export const ENV_VARIABLES: EnvVariable[] = [
  { group: 'pipeline', name: 'SOURCE_URI', default: 'http://:9000/events', description: 'where messages come from' },
  { group: 'pipeline', name: 'SINK_URI', default: 'stdout://', description: 'where they go; several, comma-separated, fan out (acked when all confirmed)' },
  { group: 'pipeline', name: 'CACHE_URI', default: 'memory://', description: 'the cache of the cache operators and wasm modules: memory://?max=&ttl=, redis://[user:pass@]host:6379/0?prefix=, rediss://..., nats-kv://bucket?ttl= (on NATS_SERVER_URL)' },
  { group: 'pipeline', name: 'DEAD_LETTER_URI', description: 'where a message goes after a permanent failure or too many deliveries; the original is then acked' },
  { group: 'wasm', name: 'WASM_MODULE', description: 'WebAssembly modules (path or http(s) URL), comma-separated = a chain in order; a module exporting transform transforms, filter filters, run() is a Go-prototype module' },
  { group: 'wasm', name: 'WASM_CONFIG', description: 'values modules read with config_get: name=value,name2=value2 or a JSON object' },
  { group: 'wasm', name: 'WASM_BUDGET', default: '100000000', description: 'fuel per message (loop iterations + calls) before a runaway module is stopped and the message nacked; 0 = off' },
  { group: 'wasm', name: 'WASM_MAX_MEMORY_PAGES', default: '256', description: 'most 64 KiB pages of memory per module instance (256 = 16 MiB)' },
  { group: 'wasm', name: 'WASM_ON_ERROR', default: 'nack', description: 'a message a module fails on (trap, budget, negative status): nack (redelivered) or deadLetter (DEAD_LETTER_URI)' },
  { group: 'wasm', name: 'WASM_POOL_SIZE', default: '32', description: 'instances per module when its cache calls wait on an asynchronous cache (order is kept per message key)' },
  { group: 'wasm', name: 'WASM_PREFETCH', description: 'cache keys the modules read for a message, fetched in batches before they run (Redis, NATS KV): templates like profile:{json.user}, user:{key}, tenant:{metadata.tenant}, comma-separated' },
  { group: 'wasm', name: 'WASM_PIPES_CACHE_DIR', description: 'where modules rewritten at load time (budget, asyncify) are kept between starts (default ~/.cache/wasm-pipes; off = never)' },
  { group: 'wasm', name: 'WASM_ENABLED', default: 'false', description: 'Go prototype compatibility: true runs WASM_BLOB_URI/WASM_FILENAME' },
  { group: 'wasm', name: 'WASM_BLOB_URI', description: 'Go prototype compatibility: the folder of the module, file:///path/to/dir' },
  { group: 'wasm', name: 'WASM_FILENAME', default: 'main.wasm', description: 'Go prototype compatibility: the module file in WASM_BLOB_URI' },
  { group: 'limits', name: 'MAX_IN_FLIGHT', default: '1024', description: 'most unsettled messages at once (the credit window)' },
  { group: 'limits', name: 'ACK_TIMEOUT', default: '2m', description: 'a message unsettled this long is nacked, with a warning naming where it was last seen (0 = off)' },
  { group: 'limits', name: 'MAX_DELIVERIES', default: '5', description: 'deliveries before a message goes to DEAD_LETTER_URI (sources that count deliveries)' },
  { group: 'limits', name: 'SHUTDOWN_TIMEOUT', default: '30s', description: 'on SIGTERM/SIGINT, how long to wait for in-flight messages before nacking them' },
  { group: 'limits', name: 'SINK_CONCURRENCY', description: 'writes in progress at once per sink (default per connector: HTTP 32, Pub/Sub 16)' },
  { group: 'limits', name: 'SINK_MAX_ATTEMPTS', default: '5', description: 'attempts per message for retryable sink errors, with exponential backoff and jitter' },
  { group: 'http', name: 'HTTP_MAX_BODY', default: '1mb', description: 'largest request body the HTTP source takes (413 above it)' },
  { group: 'http', name: 'HTTP_SOURCE_TOKEN', secret: true, description: 'when set, the HTTP source requires Authorization: Bearer <token> (401 otherwise)' },
  { group: 'http', name: 'HTTP_SOURCE_HMAC_SECRET', secret: true, description: 'when set, the HTTP source requires X-Signature-256: sha256=<hex HMAC-SHA256 of the body>' },
  { group: 'http', name: 'HTTP_TLS_CERT', description: 'PEM certificate file for an https:// source' },
  { group: 'http', name: 'HTTP_TLS_KEY', description: 'PEM key file for an https:// source' },
  { group: 'http', name: 'HTTP_SINK_METHOD', default: 'POST', description: 'method of the HTTP sink: POST or PUT' },
  { group: 'http', name: 'HTTP_SINK_TIMEOUT', default: '30s', description: 'HTTP sink timeout per request (a timeout is retried)' },
  { group: 'gcp', name: 'PUBSUB_EMULATOR_HOST', description: 'host:port of a Pub/Sub emulator for gcppubsub:// (plain-text gRPC, no credentials); unset = pubsub.googleapis.com' },
  { group: 'gcp', name: 'GOOGLE_APPLICATION_CREDENTIALS', description: 'service account key file (JSON) for gcppubsub://; unset = the other Application Default Credentials (gcloud auth application-default login, the metadata server)' },
  { group: 'gcp', name: 'PUBSUB_PUBLISH_TIMEOUT', default: '60s', description: 'how long the gcppubsub:// sink lets the client retry one publish before the sink retries it (SINK_MAX_ATTEMPTS)' },
  { group: 'aws', name: 'AWS_REGION', description: 'region for awssqs:// and awssns:// when the URI has no ?region= and its host or ARN names none (also AWS_DEFAULT_REGION, or the profile\'s region)' },
  { group: 'aws', name: 'AWS_PROFILE', description: 'shared config/credentials profile; credentials come from the SDK\'s default chain (env, profile, SSO, container or instance role)' },
  { group: 'aws', name: 'AWS_ACCESS_KEY_ID', description: 'access key for SQS/SNS (with AWS_SECRET_ACCESS_KEY, and AWS_SESSION_TOKEN for temporary credentials)' },
  { group: 'aws', name: 'AWS_SECRET_ACCESS_KEY', secret: true, description: 'secret key for SQS/SNS' },
  { group: 'aws', name: 'AWS_SESSION_TOKEN', secret: true, description: 'session token of temporary credentials' },
  { group: 'aws', name: 'AWS_ENDPOINT_URL_SQS', description: 'SQS endpoint override (emulators, VPC endpoints) when the URI has no ?endpoint=; queue URLs are then asked of it with GetQueueUrl' },
  { group: 'aws', name: 'AWS_ENDPOINT_URL_SNS', description: 'SNS endpoint override when the URI has no ?endpoint=' },
  { group: 'aws', name: 'AWS_ENDPOINT_URL', description: 'endpoint override for both SQS and SNS, when neither the URI nor the service variable gives one' },
  { group: 'kafka', name: 'KAFKA_BROKERS', description: 'the Kafka brokers, comma-separated host:port (required for kafka://), e.g. 10.0.0.1:9092,10.0.0.2:9092' },
  { group: 'kafka', name: 'KAFKA_CLIENT_ID', default: 'wasm-pipes', description: 'the client id the brokers see' },
  { group: 'kafka', name: 'KAFKA_SSL', default: 'false', description: 'true to connect with TLS' },
  { group: 'kafka', name: 'KAFKA_SASL_MECHANISM', description: 'plain, scram-sha-256 or scram-sha-512 to authenticate with SASL' },
  { group: 'kafka', name: 'KAFKA_USERNAME', description: 'SASL user name' },
  { group: 'kafka', name: 'KAFKA_PASSWORD', secret: true, description: 'SASL password' },
  { group: 'kafka', name: 'KAFKA_COMMIT_INTERVAL', default: '1s', description: 'how often a kafka:// source commits the settled prefix of each partition (also at rebalance and shutdown)' },
  { group: 'kafka', name: 'KAFKA_SESSION_TIMEOUT', default: '30s', description: 'consumer group session timeout: how long before the group gives a dead member\'s partitions to others' },
  { group: 'kafka', name: 'KAFKA_MAX_MESSAGE_BYTES', default: '1mb', description: 'largest record the kafka:// sink sends (larger ones fail permanently: dead letter or nack)' },
  { group: 'nats', name: 'NATS_SERVER_URL', default: '127.0.0.1:4222', description: 'NATS server(s) for nats:// and nats-kv://: host:port or nats:// / tls:// URLs, comma-separated; user:password@ or token@ in a URL also work' },
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
  { group: 'azure', name: 'SERVICEBUS_CONNECTION_STRING', secret: true, description: 'azuresb://: the namespace connection string (Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...); add UseDevelopmentEmulator=true for a local emulator' },
  { group: 'azure', name: 'AZURE_SERVICEBUS_HOSTNAME', description: 'azuresb://: the namespace host (<namespace>.servicebus.windows.net), signed in with the default Azure credential, when SERVICEBUS_CONNECTION_STRING is not set' },
  { group: 'logging', name: 'LOG_LEVEL', default: 'info', description: 'trace, debug, info, warn, error or fatal (per-message logs are debug)' },
  { group: 'logging', name: 'LOG_FORMAT', description: 'pretty (one readable line per event) or json (one JSON object per line); default pretty on a terminal, json otherwise' },
  { group: 'logging', name: 'STATS_INTERVAL', default: '10s', description: 'a stats line at info this often (rates in and out, in flight, acked/nacked/dead-lettered); 0 = off' },
  { group: 'admin', name: 'ADMIN_PORT', default: '4195', description: 'port of the admin server: /ping (liveness), /ready (readiness), /metrics (Prometheus); 0 = off' },
  { group: 'admin', name: 'ADMIN_HOST', default: '127.0.0.1', description: 'address the admin server binds to; 0.0.0.0 for every interface (needed for container probes)' },
  { group: 'admin', name: 'ADMIN_TLS_CERT', description: 'PEM certificate file: serve the admin server over HTTPS (with ADMIN_TLS_KEY)' },
  { group: 'admin', name: 'ADMIN_TLS_KEY', description: 'PEM key file of ADMIN_TLS_CERT' },
];
