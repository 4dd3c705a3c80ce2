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
  mqtt: 'MQTT (mqtt://, mqtts://)',
  redis: 'Redis Streams (redis-stream://)',
  postgres: 'PostgreSQL (postgres://)',
  logging: 'Logging',
  tracing: 'Tracing (OpenTelemetry; off unless OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint is set)',
  admin: 'Admin server (health checks and metrics)',
} as const;

export const ENV_VARIABLES: EnvVariable[] = [
  {
    group: 'pipeline',
    name: 'SOURCE_URI',
    default: 'http://:9000/events',
    description:
      'where messages come from; several, comma-separated, are merged (each settled with its own service, each with its own MAX_IN_FLIGHT window)',
  },
  {
    group: 'pipeline',
    name: 'SINK_URI',
    default: 'stdout://',
    description:
      "where they go: several, comma-separated, fan out (acked when all confirmed); 'a|b' is a fallback (b when a failed); a URI may name parts of the message, like nats://orders.{metadata.region}, kafka://events-{json.type} or http://host/hooks/{key}",
  },
  {
    group: 'pipeline',
    name: 'CACHE_URI',
    default: 'memory://',
    description:
      'the cache of the cache operators and wasm modules: memory://?max=&ttl=, redis://[user:pass@]host:6379/0?prefix=, rediss://..., nats-kv://bucket?ttl= (on NATS_SERVER_URL)',
  },
  {
    group: 'pipeline',
    name: 'RATE_LIMIT',
    description:
      'at most this many messages through, like 1000/s, 60/m or 10/100ms; messages wait (never dropped), and the sources slow down',
  },
  {
    group: 'pipeline',
    name: 'RATE_LIMIT_BURST',
    description: 'most messages through at once after a quiet spell (default: one second of RATE_LIMIT)',
  },
  { group: 'pipeline', name: 'RATE_LIMIT_KEY', description: 'a rate per key: a template like {key}, {metadata.tenant} or {json.customer}' },
  {
    group: 'pipeline',
    name: 'RATE_LIMIT_SHARED',
    default: 'false',
    description: 'true: the rate is shared by every copy of the pipeline through CACHE_URI (redis:// only)',
  },
  {
    group: 'pipeline',
    name: 'WORKERS',
    default: '1',
    description:
      "processes that run the pipeline, sharing the HTTP port and the broker's group (queue group, durable consumer, consumer group...); auto = one per core. One admin server sums them; a worker that dies is restarted. mem://, stdin:// and file:// sources need 1",
  },
  {
    group: 'pipeline',
    name: 'DEAD_LETTER_URI',
    description: 'where a message goes after a permanent failure or too many deliveries; the original is then acked',
  },
  {
    group: 'wasm',
    name: 'WASM_MODULE',
    description:
      'WebAssembly modules (path or http(s) URL), comma-separated = a chain in order; a module exporting transform transforms, filter filters, run() is a Go-prototype module',
  },
  { group: 'wasm', name: 'WASM_CONFIG', description: 'values modules read with config_get: name=value,name2=value2 or a JSON object' },
  {
    group: 'wasm',
    name: 'WASM_BUDGET',
    default: '100000000',
    description: 'fuel per message (loop iterations + calls) before a runaway module is stopped and the message nacked; 0 = off',
  },
  {
    group: 'wasm',
    name: 'WASM_MAX_MEMORY_PAGES',
    default: '256',
    description: 'most 64 KiB pages of memory per module instance (256 = 16 MiB)',
  },
  {
    group: 'wasm',
    name: 'WASM_ON_ERROR',
    default: 'nack',
    description: 'a message a module fails on (trap, budget, negative status): nack (redelivered) or deadLetter (DEAD_LETTER_URI)',
  },
  {
    group: 'wasm',
    name: 'WASM_POOL_SIZE',
    default: 'auto',
    description:
      'instances per module when its cache calls wait on an asynchronous cache (order is kept per message key); auto: as many as fit in 64 MiB of instance memory, 32 to 128',
  },
  {
    group: 'wasm',
    name: 'WASM_SHA256',
    description:
      'pins the modules: one SHA-256 digest (hex, as sha256sum prints) per module of WASM_MODULE, comma-separated, in order; a module that does not match is refused (exit 2)',
  },
  {
    group: 'wasm',
    name: 'WASM_PREFETCH',
    description:
      'cache keys the modules read for a message, fetched in batches before they run (Redis, NATS KV): templates like profile:{json.user}, user:{key}, tenant:{metadata.tenant}, comma-separated',
  },
  {
    group: 'wasm',
    name: 'WASM_WATCH',
    default: 'false',
    description:
      'true reloads a module when its file changes, as SIGHUP does: loaded and checked again, swapped between messages; one that fails to load leaves the old one running',
  },
  {
    group: 'wasm',
    name: 'WASM_PIPES_CACHE_DIR',
    description:
      'where modules rewritten at load time (budget, asyncify) are kept between starts (default ~/.cache/wasm-pipes; off = never)',
  },
  {
    group: 'wasm',
    name: 'WASM_MAX_MODULE_SIZE',
    default: '16mb',
    description: 'largest module accepted (file, URL or bucket object); a download is refused as soon as it announces or passes it',
  },
  {
    group: 'wasm',
    name: 'WASM_FETCH_CONNECT_TIMEOUT',
    default: '10s',
    description: 'how long fetching a module (http(s)://, s3://, gs://) may take to connect, DNS and TLS included',
  },
  {
    group: 'wasm',
    name: 'WASM_FETCH_TIMEOUT',
    default: '60s',
    description: 'how long fetching a module may take in all, redirects included; start-up fails (exit 2) after it',
  },
  {
    group: 'wasm',
    name: 'WASM_FETCH_REDIRECT_HOSTS',
    description:
      'hosts a module URL may redirect to besides its own: names or *.example.com, comma-separated, * for any (https:// to http:// is always refused)',
  },
  {
    group: 'wasm',
    name: 'WASM_ENABLED',
    default: 'false',
    description: 'Go prototype compatibility: true runs WASM_BLOB_URI/WASM_FILENAME',
  },
  { group: 'wasm', name: 'WASM_BLOB_URI', description: 'Go prototype compatibility: the folder of the module, file:///path/to/dir' },
  {
    group: 'wasm',
    name: 'WASM_FILENAME',
    default: 'main.wasm',
    description: 'Go prototype compatibility: the module file in WASM_BLOB_URI',
  },
  { group: 'limits', name: 'MAX_IN_FLIGHT', default: '1024', description: 'most unsettled messages at once (the credit window)' },
  {
    group: 'limits',
    name: 'ACK_TIMEOUT',
    default: '2m',
    description: 'a message unsettled this long is nacked, with a warning naming where it was last seen (0 = off)',
  },
  {
    group: 'limits',
    name: 'MAX_DELIVERIES',
    default: '5',
    description: 'deliveries before a message goes to DEAD_LETTER_URI (sources that count deliveries)',
  },
  {
    group: 'limits',
    name: 'MAX_HOPS',
    default: '32',
    description:
      'relays a message may go through (counted in its wasm-pipes-hops metadata/header); past that it goes to DEAD_LETTER_URI, or is dropped with a warning: a loop breaker; 0 = off',
  },
  {
    group: 'limits',
    name: 'SHUTDOWN_TIMEOUT',
    default: '30s',
    description: 'on SIGTERM/SIGINT, how long to wait for in-flight messages before nacking them',
  },
  {
    group: 'limits',
    name: 'SINK_CONCURRENCY',
    description:
      'writes (requests or batches) in progress at once per sink (default per connector: HTTP 32, Pub/Sub 16, SQS/SNS 16, RabbitMQ 8, Kafka 4, NATS 4, Service Bus 4)',
  },
  {
    group: 'limits',
    name: 'SINK_MAX_ATTEMPTS',
    default: '5',
    description: 'attempts per message for retryable sink errors, with exponential backoff and jitter',
  },
  { group: 'http', name: 'HTTP_MAX_BODY', default: '1mb', description: 'largest request body the HTTP source takes (413 above it)' },
  {
    group: 'http',
    name: 'HTTP_SOURCE_TOKEN',
    secret: true,
    description: 'when set, the HTTP source requires Authorization: Bearer <token> (401 otherwise)',
  },
  {
    group: 'http',
    name: 'HTTP_SOURCE_HMAC_SECRET',
    secret: true,
    description: 'when set, the HTTP source requires X-Signature-256: sha256=<hex HMAC-SHA256 of the body>',
  },
  {
    group: 'http',
    name: 'HTTP_BODY_TIMEOUT',
    default: '10s',
    description: 'a request body (and its headers) must arrive within this once the HTTP source reads it (408 otherwise)',
  },
  {
    group: 'http',
    name: 'HTTP_MAX_UNVERIFIED',
    default: '256',
    description:
      'with HTTP_SOURCE_HMAC_SECRET: most bodies read at once before their signature is checked; past it the longest-reading one is cut off (503)',
  },
  {
    group: 'http',
    name: 'HTTP_RATE_LIMIT',
    description: 'most requests the HTTP source takes per period, like 500/s, 60/m or 10/100ms; over it, 429 with Retry-After',
  },
  {
    group: 'http',
    name: 'HTTP_RATE_BURST',
    description: 'requests HTTP_RATE_LIMIT lets through at once after a quiet spell (default: the count of the rate, 500 for 500/s)',
  },
  { group: 'http', name: 'HTTP_TLS_CERT', description: 'PEM certificate file for an https:// source' },
  { group: 'http', name: 'HTTP_TLS_KEY', description: 'PEM key file for an https:// source' },
  { group: 'http', name: 'HTTP_SINK_METHOD', default: 'POST', description: 'method of the HTTP sink: POST or PUT' },
  { group: 'http', name: 'HTTP_SINK_TIMEOUT', default: '30s', description: 'HTTP sink timeout per request (a timeout is retried)' },
  {
    group: 'gcp',
    name: 'PUBSUB_EMULATOR_HOST',
    description: 'host:port of a Pub/Sub emulator for gcppubsub:// (plain-text gRPC, no credentials); unset = pubsub.googleapis.com',
  },
  {
    group: 'gcp',
    name: 'GOOGLE_APPLICATION_CREDENTIALS',
    description:
      'service account key file (JSON) for gcppubsub://; unset = the other Application Default Credentials (gcloud auth application-default login, the metadata server)',
  },
  {
    group: 'gcp',
    name: 'STORAGE_EMULATOR_HOST',
    description:
      'host:port or URL of a Cloud Storage emulator for gs:// modules (JSON API, no credentials); unset = storage.googleapis.com with Application Default Credentials',
  },
  {
    group: 'gcp',
    name: 'PUBSUB_PUBLISH_TIMEOUT',
    default: '60s',
    description: 'how long the gcppubsub:// sink lets the client retry one publish before the sink retries it (SINK_MAX_ATTEMPTS)',
  },
  {
    group: 'aws',
    name: 'AWS_REGION',
    description:
      "region for awssqs:// and awssns:// when the URI has no ?region= and its host or ARN names none (also AWS_DEFAULT_REGION, or the profile's region)",
  },
  {
    group: 'aws',
    name: 'AWS_PROFILE',
    description:
      "shared config/credentials profile; credentials come from the SDK's default chain (env, profile, SSO, container or instance role)",
  },
  {
    group: 'aws',
    name: 'AWS_ACCESS_KEY_ID',
    description: 'access key for SQS/SNS (with AWS_SECRET_ACCESS_KEY, and AWS_SESSION_TOKEN for temporary credentials)',
  },
  { group: 'aws', name: 'AWS_SECRET_ACCESS_KEY', secret: true, description: 'secret key for SQS/SNS' },
  { group: 'aws', name: 'AWS_SESSION_TOKEN', secret: true, description: 'session token of temporary credentials' },
  {
    group: 'aws',
    name: 'AWS_ENDPOINT_URL_SQS',
    description:
      'SQS endpoint override (emulators, VPC endpoints) when the URI has no ?endpoint=; queue URLs are then asked of it with GetQueueUrl',
  },
  {
    group: 'aws',
    name: 'AWS_ENDPOINT_URL_S3',
    description:
      'S3 endpoint override for s3:// modules (emulators, MinIO) when the URI has no ?endpoint=; buckets are then addressed in the path',
  },
  { group: 'aws', name: 'AWS_ENDPOINT_URL_SNS', description: 'SNS endpoint override when the URI has no ?endpoint=' },
  {
    group: 'aws',
    name: 'AWS_ENDPOINT_URL',
    description: 'endpoint override for both SQS and SNS, when neither the URI nor the service variable gives one',
  },
  {
    group: 'kafka',
    name: 'KAFKA_BROKERS',
    description: 'the Kafka brokers, comma-separated host:port (required for kafka://), e.g. 10.0.0.1:9092,10.0.0.2:9092',
  },
  { group: 'kafka', name: 'KAFKA_CLIENT_ID', default: 'wasm-pipes', description: 'the client id the brokers see' },
  { group: 'kafka', name: 'KAFKA_SSL', default: 'false', description: 'true to connect with TLS' },
  { group: 'kafka', name: 'KAFKA_SASL_MECHANISM', description: 'plain, scram-sha-256 or scram-sha-512 to authenticate with SASL' },
  { group: 'kafka', name: 'KAFKA_USERNAME', description: 'SASL user name' },
  { group: 'kafka', name: 'KAFKA_PASSWORD', secret: true, description: 'SASL password' },
  {
    group: 'kafka',
    name: 'KAFKA_COMMIT_INTERVAL',
    default: '1s',
    description: 'how often a kafka:// source commits the settled prefix of each partition (also at rebalance and shutdown)',
  },
  {
    group: 'kafka',
    name: 'KAFKA_SESSION_TIMEOUT',
    default: '30s',
    description: "consumer group session timeout: how long before the group gives a dead member's partitions to others",
  },
  {
    group: 'kafka',
    name: 'KAFKA_MAX_MESSAGE_BYTES',
    default: '1mb',
    description: 'largest record the kafka:// sink sends (larger ones fail permanently: dead letter or nack)',
  },
  {
    group: 'nats',
    name: 'NATS_SERVER_URL',
    default: '127.0.0.1:4222',
    description:
      'NATS server(s) for nats:// and nats-kv://: host:port or nats:// / tls:// URLs, comma-separated; user:password@ or token@ in a URL also work',
  },
  { group: 'nats', name: 'NATS_USER', description: 'user name for NATS (with NATS_PASSWORD)' },
  { group: 'nats', name: 'NATS_PASSWORD', secret: true, description: 'password for NATS_USER' },
  { group: 'nats', name: 'NATS_TOKEN', secret: true, description: 'token for NATS token authentication' },
  { group: 'nats', name: 'NATS_CREDS', description: 'path of a NATS .creds file (user JWT and nkey seed, as nsc writes)' },
  { group: 'nats', name: 'NATS_TLS_CA', description: 'PEM file of the CA that signed the NATS server certificate (turns TLS on)' },
  { group: 'nats', name: 'NATS_TLS_CERT', description: 'PEM client certificate for NATS (with NATS_TLS_KEY)' },
  { group: 'nats', name: 'NATS_TLS_KEY', description: 'PEM key of NATS_TLS_CERT' },
  {
    group: 'nats',
    name: 'NATS_CONNECT_TIMEOUT',
    default: '30s',
    description: 'how long the first NATS connection is retried before start-up fails (later losses reconnect forever)',
  },
  {
    group: 'rabbit',
    name: 'RABBIT_SERVER_URL',
    default: 'amqp://guest:guest@127.0.0.1:5672/',
    description: 'RabbitMQ broker: amqp://user:password@host:5672/vhost (or amqps://)',
  },
  {
    group: 'rabbit',
    name: 'RABBIT_CONNECT_TIMEOUT',
    default: '30s',
    description: 'how long the first RabbitMQ connection is retried before start-up fails (later losses reconnect with backoff)',
  },
  {
    group: 'mqtt',
    name: 'MQTT_SERVER_URL',
    default: 'mqtt://127.0.0.1:1883',
    description:
      'the MQTT broker of mqtt:// and mqtts://: mqtt://host:1883, or mqtts://host:8883 for TLS; user:password@ in the URL also works',
  },
  { group: 'mqtt', name: 'MQTT_USERNAME', description: 'user name for the MQTT broker (with MQTT_PASSWORD)' },
  { group: 'mqtt', name: 'MQTT_PASSWORD', secret: true, description: 'password for MQTT_USERNAME' },
  { group: 'mqtt', name: 'MQTT_TLS_CA', description: 'PEM file of the CA that signed the broker certificate (turns TLS on)' },
  { group: 'mqtt', name: 'MQTT_TLS_CERT', description: 'PEM client certificate for the broker (with MQTT_TLS_KEY; turns TLS on)' },
  { group: 'mqtt', name: 'MQTT_TLS_KEY', description: 'PEM key of MQTT_TLS_CERT' },
  {
    group: 'mqtt',
    name: 'MQTT_CONNECT_TIMEOUT',
    default: '30s',
    description: 'how long the first MQTT connection is retried before start-up fails (later losses reconnect forever)',
  },
  {
    group: 'redis',
    name: 'REDIS_SERVER_URL',
    default: 'redis://127.0.0.1:6379/0',
    description: 'the Redis server of redis-stream://: redis://[user:password@]host:6379/db, or rediss:// for TLS',
  },
  { group: 'redis', name: 'REDIS_USERNAME', description: 'ACL user name for Redis (with REDIS_PASSWORD)' },
  { group: 'redis', name: 'REDIS_PASSWORD', secret: true, description: "password for Redis (requirepass, or REDIS_USERNAME's)" },
  {
    group: 'redis',
    name: 'REDIS_CONNECT_TIMEOUT',
    default: '30s',
    description: 'how long the first Redis connection is retried before start-up fails (later losses reconnect forever)',
  },
  {
    group: 'azure',
    name: 'SERVICEBUS_CONNECTION_STRING',
    secret: true,
    description:
      'azuresb://: the namespace connection string (Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...); add UseDevelopmentEmulator=true for a local emulator',
  },
  {
    group: 'azure',
    name: 'AZURE_SERVICEBUS_HOSTNAME',
    description:
      'azuresb://: the namespace host (<namespace>.servicebus.windows.net), signed in with the default Azure credential, when SERVICEBUS_CONNECTION_STRING is not set',
  },
  {
    group: 'postgres',
    name: 'PGHOST',
    default: 'localhost',
    description: 'postgres://: the server when the URI has no host (postgres:///db/table)',
  },
  { group: 'postgres', name: 'PGPORT', default: '5432', description: 'postgres://: the port when the URI has none' },
  { group: 'postgres', name: 'PGUSER', description: 'postgres://: the user when the URI has none' },
  {
    group: 'postgres',
    name: 'PGPASSWORD',
    secret: true,
    description: 'postgres://: the password when the URI has none (better than one in the URI)',
  },
  {
    group: 'postgres',
    name: 'PGDATABASE',
    description: 'postgres://: the database when the URI names only a table (postgres://host/table)',
  },
  {
    group: 'logging',
    name: 'LOG_LEVEL',
    default: 'info',
    description: 'trace, debug, info, warn, error or fatal (per-message logs are debug)',
  },
  {
    group: 'logging',
    name: 'LOG_FORMAT',
    description: 'pretty (one readable line per event) or json (one JSON object per line); default pretty on a terminal, json otherwise',
  },
  {
    group: 'logging',
    name: 'STATS_INTERVAL',
    default: '10s',
    description: 'a stats line at info this often (rates in and out, in flight, acked/nacked/dead-lettered); 0 = off',
  },
  {
    group: 'tracing',
    name: 'OTEL_TRACES_EXPORTER',
    description:
      'otlp turns tracing on (a span per message, W3C traceparent carried through every broker), none keeps it off; default otlp when an OTLP endpoint is set',
  },
  {
    group: 'tracing',
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    description:
      'the OTLP/HTTP receiver (a collector, Jaeger, Tempo): http://host:4318, spans go to its /v1/traces (default http://localhost:4318 with OTEL_TRACES_EXPORTER=otlp)',
  },
  {
    group: 'tracing',
    name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    description: 'the full URL spans are posted to, when it is not <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces',
  },
  {
    group: 'tracing',
    name: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    description: 'http/json, the one wasm-pipes speaks (also OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)',
  },
  {
    group: 'tracing',
    name: 'OTEL_EXPORTER_OTLP_HEADERS',
    secret: true,
    description: 'headers sent with every export, name=value,name2=value2 (an API key of a tracing service)',
  },
  {
    group: 'tracing',
    name: 'OTEL_TRACES_SAMPLER',
    default: 'parentbased_always_on',
    description:
      'which messages are traced: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio (parentbased: follow the incoming traceparent)',
  },
  {
    group: 'tracing',
    name: 'OTEL_TRACES_SAMPLER_ARG',
    description: 'the ratio of the traceidratio samplers, 0..1 (0.01 traces 1% of the messages)',
  },
  {
    group: 'tracing',
    name: 'OTEL_SERVICE_NAME',
    default: 'wasm-pipes',
    description: 'the service name of the spans (OTEL_RESOURCE_ATTRIBUTES adds other resource attributes)',
  },
  {
    group: 'tracing',
    name: 'OTEL_RESOURCE_ATTRIBUTES',
    description: 'resource attributes of the spans: name=value,name2=value2 (deployment.environment=prod)',
  },
  {
    group: 'tracing',
    name: 'OTEL_SDK_DISABLED',
    default: 'false',
    description: 'true turns tracing off whatever the other OTEL_* variables say',
  },
  {
    group: 'admin',
    name: 'ADMIN_PORT',
    default: '4195',
    description: 'port of the admin server: /ping (liveness), /ready (readiness), /metrics (Prometheus); 0 = off',
  },
  {
    group: 'admin',
    name: 'ADMIN_HOST',
    default: '127.0.0.1',
    description: 'address the admin server binds to; 0.0.0.0 for every interface (needed for container probes)',
  },
  { group: 'admin', name: 'ADMIN_TLS_CERT', description: 'PEM certificate file: serve the admin server over HTTPS (with ADMIN_TLS_KEY)' },
  { group: 'admin', name: 'ADMIN_TLS_KEY', description: 'PEM key file of ADMIN_TLS_CERT' },
  {
    group: 'admin',
    name: 'ADMIN_TOKEN',
    secret: true,
    description:
      'when set, /metrics and the details of /ready need Authorization: Bearer <token> (16 characters or more); /ping and the status of /ready stay open. Required when ADMIN_HOST is not a loopback address, unless ADMIN_ANONYMOUS=true',
  },
  {
    group: 'admin',
    name: 'ADMIN_ANONYMOUS',
    default: 'false',
    description: 'true serves /metrics and /ready without a token on a non-loopback ADMIN_HOST (a network only your Prometheus reaches)',
  },
];
