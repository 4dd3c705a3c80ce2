// The `wasm-pipes` entry: sources, sinks, run(), the message and its settlement, and the driver interfaces.
export { source, sink } from './endpoints';
export type { EndpointOptions } from './endpoints';
export { run, start, DEFAULT_SHUTDOWN_TIMEOUT_MS } from './run';
export type { RunOptions, RunningPipeline, PipelineStats } from './run';
export { Message, Settlement, markStage } from './message';
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
export { memTopic, MemTopic } from './connectors/mem';
export type { Logger } from './logger';
