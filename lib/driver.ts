// The `wasm-pipes/driver` entry, for connector authors: the driver interfaces, registration, the errors a driver
// classifies with, and backoff. The conformance suite is `wasm-pipes/driver/conformance`. See
// docs/connectors/writing-a-connector.md; each name here has an entry in docs/api.md (a test checks).
export type { SourceDriver, SourceContext, Delivery, ReceivedMessage, CreditSlot } from './source';
export type { SinkDriver, WriteResult } from './sink';
export { registerScheme, parseEndpointUri } from './registry';
export type { SchemeDefinition, EndpointUri, ParamSpec } from './registry';
export { Message } from './message';
export type { MessageInit } from './message';
export { ConnectorError, PermanentError, ConfigError, isRetryable } from './errors';
export { exponentialBackoff, equalJitter } from './backoff';
