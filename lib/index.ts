// The `wasm-pipes` entry, for pipeline authors: sources, sinks, run(), the message, the cache and wasm loaders, the
// errors to catch, and what an embedding program needs to serve health and metrics. Connector authors use
// `wasm-pipes/driver`; everything else is internal. Each name here has an entry in docs/api.md (a test checks).
export { source, sink } from './endpoints';
export type { EndpointOptions } from './endpoints';
export type { TemplateOptions } from './templatedSink';
export { run, start } from './run';
export type { RunOptions, RunningPipeline, PipelineStats, PipelineState, SourceView } from './run';
export { Message } from './message';
export type { MessageInit, MessageChanges } from './message';
export type { SourceOptions } from './source';
export type { Sink, SinkOptions, BatchOptions, RetryOptions } from './sink';
// the webhook source as a handler for an app of one's own (express 5, node:http); loads no client library
export { httpSource } from './connectors/http/source';
export type { HttpSourceOptions, HttpSourceObservable, HttpRequestHandler } from './connectors/http/source';
export { memTopic } from './connectors/local/mem';
export type { MemTopic } from './connectors/local/mem';
export { cache } from './cache';
export type { Cache, CacheOptions } from './cache';
export { loadWasm } from './wasm';
export type { LoadOptions, WasmSource, WasmOperatorOptions, WasmModule } from './wasm';
export { ConfigError, ConnectorError, PermanentError, WasmAbiError, ShutdownError } from './errors';
export { WasmTrapError, WasmBudgetError, WasmModuleError } from './wasm';
export { parseDuration, parseSize } from './config';
export { startAdminServer, pipelineReadiness } from './admin/server';
export type { AdminServer, AdminServerOptions, ReadinessReport } from './admin/server';
export { metricsText } from './metrics';
export { createLogger } from './logging/logger';
export type { Logger, LoggerSettings } from './logging/logger';
// the module author's test loop, for jest (wasm-pipes test runs the same)
export { testModule, type TestCase, type TestReport, type TestModuleOptions } from './wasm/testRunner';
