// The `wasm-pipes` entry: sources, sinks, run(), the message and its settlement, and the driver interfaces.
export { source, sink } from './endpoints';
export type { EndpointOptions } from './endpoints';
export { run, start, DEFAULT_SHUTDOWN_TIMEOUT_MS } from './run';
export type { RunOptions, RunningPipeline, PipelineStats, PipelineState } from './run';
export { Message, Settlement, markStage, observeSettlement } from './message';
export type { MessageInit, MessageChanges, SettlementHandler } from './message';
export { createSource, SourceRuntime, DEFAULT_MAX_IN_FLIGHT, DEFAULT_ACK_TIMEOUT_MS, DEFAULT_MAX_DELIVERIES } from './source';
export type { SourceOptions, SourceDriver, SourceContext, CreditSlot, ReceivedMessage, SourceStats } from './source';
export { SinkRuntime } from './sink';
export type { Sink, SinkDriver, SinkOptions, BatchOptions, RetryOptions, WriteResult } from './sink';
export { FanOutSink } from './fanOut';
export { ConfigError, WasmAbiError, ConnectorError, PermanentError, isRetryable } from './errors';
export { registerScheme, registerConnectorModule, supportedSchemes, parseEndpointUri, redactUri } from './registry';
export type { SchemeDefinition, EndpointUri } from './registry';
export { parseDuration, parseSize } from './config';
export { DEAD_LETTER_REASON, DEAD_LETTER_ORIGIN, DEAD_LETTER_TIME } from './deadLetter';
export { memTopic, MemTopic } from './connectors/local/mem';
// the webhook source as a handler for an app of one's own (express 5, node:http); loads no client library
export { httpSource } from './connectors/http/source';
export type { HttpSourceOptions, HttpSourceObservable, HttpRequestHandler } from './connectors/http/source';
export type { Logger, LogFormat, LogLevel, LoggerSettings } from './logging/logger';
export { createLogger, parseLogSettings, setRootLogger } from './logging/logger';
export {
  metricsRegistry,
  metricsText,
  METRICS_CONTENT_TYPE,
  openStage,
  closeStage,
  counterFamily,
  histogramFamily,
  gaugeFamily,
  wasmMetrics,
  Histogram,
  Sampler,
  StageMetrics,
  CounterFamily,
  HistogramFamily,
  CounterChild,
  LATENCY_BUCKETS,
} from './metrics';
export type { StageRole, StageStats, StageGauges, Labels } from './metrics';
export { startAdminServer, pipelineReadiness, DEFAULT_ADMIN_PORT, DEFAULT_ADMIN_HOST } from './admin/server';
export type { AdminServer, AdminServerOptions, ReadinessCheck, ReadinessReport } from './admin/server';
export { Redactor, secretsFromEnv } from './security/redact';
export { instrumentCache } from './cache/instrumented';
export { cache, parseCacheUri, openCache, MemoryCache, DEFAULT_CACHE_URI } from './cache';
export type { Cache, SyncCacheOperations, CacheOptions, CacheConfig, MemoryCacheOptions } from './cache';
export { loadWasm, WasmModule, WasmTrapError, WasmBudgetError, WasmModuleError, DEFAULT_BUDGET, DEFAULT_MAX_MEMORY_PAGES } from './wasm';
export type { LoadOptions, WasmSource, WasmOperatorOptions, WasmModuleStats } from './wasm';
export { testModule, type TestCase, type TestReport, type CaseResult, type CaseFile, type Expectation, type ExpectedOutput, type TestModuleOptions } from './wasm/testRunner';
