// Named errors, in the style of nats.js: each sets `name`, keeps `cause`, and says what was wrong and how to fix it.

/** Bad configuration: an environment variable, a URI or an option. The bin prints it without a stack and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The environment variable or option at fault, when there is one. */
  readonly variable?: string;

  constructor(message: string, options: { variable?: string; cause?: unknown } = {}) {
    super(options.variable ? `${options.variable}: ${message}` : message, { cause: options.cause });
    this.variable = options.variable;
  }
}

/** A WebAssembly module that does not fit the ABI: names the missing export or unknown import. */
export class WasmAbiError extends Error {
  override readonly name = 'WasmAbiError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`${message} (see sdk/ABI.md)`, options);
  }
}

/** A service failed: names the scheme and the host. `retryable` tells the sink machinery whether to try again. */
export class ConnectorError extends Error {
  override readonly name: string = 'ConnectorError';
  readonly scheme: string;
  readonly host?: string;
  readonly retryable: boolean;

  constructor(message: string, options: { scheme: string; host?: string; retryable?: boolean; cause?: unknown }) {
    super(`${options.scheme}${options.host ? ` (${options.host})` : ''}: ${message}`, { cause: options.cause });
    this.scheme = options.scheme;
    this.host = options.host;
    this.retryable = options.retryable ?? true;
  }
}

/**
 * The queue, topic, stream, table or bucket a URI names does not exist: a ConnectorError that names it, which no retry
 * fixes. At start-up the bin exits 2 for it, as for a bad URI (the fix is in the configuration).
 */
export class MissingResourceError extends ConnectorError {
  override readonly name = 'MissingResourceError';

  constructor(message: string, options: { scheme: string; host?: string; cause?: unknown }) {
    super(message, { ...options, retryable: false });
  }
}

/**
 * A failure that will not go away by trying again (a 400 answer, an oversized message).
 * Sinks throw it, or pass it per message, to skip retries and go straight to the dead letter.
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}

/** Whether the sink machinery should retry after `error`. Unknown errors (network resets, timeouts) are retryable. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof PermanentError) return false;
  if (error instanceof ConnectorError) return error.retryable;
  if (error instanceof ConfigError || error instanceof WasmAbiError) return false;
  if (error !== null && typeof error === 'object' && 'retryable' in error) {
    return Boolean(error.retryable);
  }
  return true;
}

/** An Error from anything thrown. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}

/** The runtime nacked a message that nothing settled within ackTimeout (and that no sink held). */
export class AckTimeoutError extends Error {
  override readonly name = 'AckTimeoutError';
}

/** The runtime nacked a message because the pipeline stopped before it was settled (so the source redelivers it). */
export class ShutdownError extends Error {
  override readonly name = 'ShutdownError';
}

/** A message was delivered more than maxDeliveries times. */
export class TooManyDeliveriesError extends Error {
  override readonly name = 'TooManyDeliveriesError';
}
