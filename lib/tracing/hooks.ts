// The per-message side of tracing: what the runtimes call when a pipeline is traced. A traced source message carries a
// record (on its root settlement, so that every message derived from it finds it): its receive span, a span for
// each operator it passed, each wasm call and each sink write, and the settlement. The hooks in the core check
// `tracingState.active` first, so that a process that traces nothing pays one number comparison per hook.
// This module loads no OpenTelemetry package: a PipelineTracer is given the API object by lib/tracing/index.ts.
import { inspect } from 'node:util';
import type * as OtelApi from '@opentelemetry/api';
import type { Context, Link, Span, TextMapGetter, TextMapPropagator, TextMapSetter, Tracer } from '@opentelemetry/api';
import type { Message, Settlement } from '../message';
import type { GuestInstance } from '../wasm/instance';

/** How many pipelines trace right now: the hooks do nothing while it is 0. */
export const tracingState = { active: 0 };

/** The metadata names of W3C Trace Context. */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';
/** The metadata that deadLetterCopy() writes (lib/deadLetter.ts): the reason a message was given up. */
const DEAD_LETTER_REASON = 'dead-letter-reason';

const TRACEPARENT_FORMAT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})/;

/** A metadata value by name, any case (W3C names are case-insensitive; brokers keep whatever case the producer used). */
function metadataValue(metadata: Readonly<Record<string, string>>, name: string): string | undefined {
  const exact = metadata[name];
  if (exact !== undefined) return exact;
  for (const key in metadata) if (key.length === name.length && key.toLowerCase() === name) return metadata[key];
  return undefined;
}

const metadataGetter: TextMapGetter<Readonly<Record<string, string>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => metadataValue(carrier, key),
};

const metadataSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/**
 * The sampling decision for a message, made before any span exists, so that a message sampled out costs no span, no id
 * and no record: `parent` is its incoming traceparent, if any. Undefined: the tracer provider's own sampler decides.
 */
export type SampleDecision = (parent: string | undefined) => boolean;

/** The sampler of OTEL_TRACES_SAMPLER as a decision on a message's traceparent. */
export function sampleDecision(sampler: string, ratio: number): SampleDecision {
  const byRatio = (parent: RegExpExecArray | null): boolean =>
    // a trace id decides the same way in every process that samples it (its low 32 bits against the ratio)
    parent !== null ? Number.parseInt(parent[1].slice(24), 16) < ratio * 0x1_0000_0000 : Math.random() < ratio;
  const parse = (parent: string | undefined): RegExpExecArray | null => (parent === undefined ? null : TRACEPARENT_FORMAT.exec(parent));
  const flagOf = (parent: RegExpExecArray): boolean => (Number.parseInt(parent[2], 16) & 1) === 1;
  switch (sampler) {
    case 'always_on':
      return () => true;
    case 'always_off':
      return () => false;
    case 'traceidratio':
      return (parent) => byRatio(parse(parent));
    case 'parentbased_always_off':
      return (parent) => {
        const parsed = parse(parent);
        return parsed !== null && flagOf(parsed);
      };
    case 'parentbased_traceidratio':
      return (parent) => {
        const parsed = parse(parent);
        return parsed !== null ? flagOf(parsed) : byRatio(null);
      };
    default:
      // parentbased_always_on, the default
      return (parent) => {
        const parsed = parse(parent);
        return parsed === null || flagOf(parsed);
      };
  }
}

/** What the source runtime calls (lib/source.ts): set on it by run() when the pipeline is traced. */
export interface SourceTracing {
  received(message: Message, source: string, scheme: string): void;
  settled(settlement: Settlement, error: Error | undefined): void;
}

/** The spans of one source message (or of a batch joined from several). */
class TraceRecord {
  /** When the message left its last stage (epoch ms), the start of the next operator's span. */
  lastAt: number;
  lastStage: string | undefined = undefined;
  /** Sink writes not yet ended: ended with the settlement's outcome at the latest. */
  readonly open: Span[] = [];
  /** Why it went to the dead letter: the settlement acks it, but the trace says it failed. */
  deadLettered: string | undefined = undefined;
  /** The batch this message was joined into (batchMessages): settled with it. */
  batch: TraceRecord | undefined = undefined;
  ended = false;

  constructor(
    readonly tracer: PipelineTracer,
    readonly span: Span,
    readonly context: Context,
    readonly source: string,
  ) {
    this.lastAt = now();
  }

  /** The settlement: a span that says how it ended, then the receive span, with an error status for a failure. */
  settle(error: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    const { api, tracer } = this.tracer;
    const failure =
      error !== undefined
        ? `${error.name}: ${error.message}`
        : this.deadLettered !== undefined
          ? `dead-lettered: ${this.deadLettered}`
          : undefined;
    const outcome = error !== undefined ? 'nack' : this.deadLettered !== undefined ? 'dead_letter' : 'ack';
    const settle = tracer.startSpan(
      `${error !== undefined ? 'nack' : 'ack'} ${this.source}`,
      { kind: api.SpanKind.INTERNAL, attributes: { 'wasm_pipes.outcome': outcome } },
      this.context,
    );
    for (const span of this.open.splice(0)) {
      if (failure !== undefined) span.setStatus({ code: api.SpanStatusCode.ERROR, message: failure });
      span.end();
    }
    if (failure !== undefined) {
      settle.setStatus({ code: api.SpanStatusCode.ERROR, message: failure });
      this.span.setStatus({ code: api.SpanStatusCode.ERROR, message: failure });
    }
    this.span.setAttribute('wasm_pipes.outcome', outcome);
    settle.end();
    this.span.end();
    this.batch?.settle(error);
  }

  /** Ends a sink write's span (written, or given up). */
  closed(span: Span): void {
    const index = this.open.indexOf(span);
    if (index >= 0) this.open.splice(index, 1);
    span.end();
  }
}

/** The span of one message's write to one sink. */
interface SendTrace {
  readonly record: TraceRecord;
  readonly span: Span;
  attempts: number;
}

/** Epoch milliseconds with sub-millisecond precision, the clock OpenTelemetry spans use. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The messages a sink queued with their trace context written in (see traceSinkArrival). */
const sends = new WeakMap<Message, SendTrace>();

/** One traced pipeline: its tracer, how it samples, and the source side of the hooks. */
export class PipelineTracer implements SourceTracing {
  constructor(
    readonly api: typeof OtelApi,
    readonly tracer: Tracer,
    readonly propagator: TextMapPropagator,
    private readonly decide: SampleDecision | undefined,
  ) {}

  received(message: Message, source: string, scheme: string): void {
    const metadata = message.metadata;
    const parent = metadata[TRACEPARENT] ?? metadataValue(metadata, TRACEPARENT);
    if (this.decide !== undefined && !this.decide(parent)) return;
    const api = this.api;
    const parentContext = parent === undefined ? api.ROOT_CONTEXT : this.propagator.extract(api.ROOT_CONTEXT, metadata, metadataGetter);
    const span = this.tracer.startSpan(
      `receive ${source}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes: {
          'messaging.system': scheme,
          'messaging.operation.type': 'receive',
          'messaging.message.id': message.id,
          'wasm_pipes.source': source,
        },
      },
      parentContext,
    );
    // a tracer provider given to run() samples with its own sampler: a span it does not record is the end of it
    if (!span.isRecording()) return;
    message.settlement.root.trace = new TraceRecord(this, span, api.trace.setSpan(parentContext, span), source);
  }

  settled(settlement: Settlement, error: Error | undefined): void {
    const record = settlement.trace as TraceRecord | undefined;
    if (record === undefined) return;
    settlement.trace = undefined;
    record.settle(error);
  }
}

/** The trace record of `message`: its source message's, or a batch's made of traced parts. */
function recordOf(message: Message, stage: string): TraceRecord | undefined {
  const root = message.settlement.root;
  const record = root.trace as TraceRecord | undefined;
  if (record !== undefined) return record;
  // a batch (joinMessages) is a root of its own: it is traced when its parts are
  const parts = root === message.settlement ? root.joined : undefined;
  return parts === undefined ? undefined : batchRecord(message, parts, stage);
}

/**
 * The record of a batch: a span linked to each traced part (and each part's receive span linked to it), a child of the
 * parts' trace when they all belong to one, else the root of a new trace. Settled with its parts.
 */
function batchRecord(batch: Message, parts: readonly Message[], stage: string): TraceRecord | undefined {
  const traced: TraceRecord[] = [];
  for (const part of parts) {
    const record = part.settlement.root.trace as TraceRecord | undefined;
    if (record !== undefined && !traced.includes(record)) traced.push(record);
  }
  if (traced.length === 0) return undefined;
  const first = traced[0];
  const { api, tracer } = first.tracer;
  const traceId = first.span.spanContext().traceId;
  const oneTrace = traced.every((record) => record.span.spanContext().traceId === traceId);
  const links: Link[] = traced.map((record) => ({ context: record.span.spanContext() }));
  // from when the first part came to the stage that joined them, to the batch's settlement
  const startTime = Math.min(...traced.map((record) => record.lastAt));
  const span = tracer.startSpan(
    stage,
    {
      kind: api.SpanKind.INTERNAL,
      links,
      startTime,
      attributes: { 'messaging.batch.message_count': parts.length, 'messaging.message.id': batch.id },
      ...(oneTrace ? {} : { root: true }),
    },
    first.context,
  );
  const record = new TraceRecord(first.tracer, span, api.trace.setSpan(first.context, span), stage);
  // the batch span is the joining stage's span: traceStage() makes no other
  record.lastStage = stage;
  for (const part of traced) {
    part.batch = record;
    part.span.addLink({ context: span.spanContext() });
  }
  batch.settlement.trace = record;
  return record;
}

/** markStage(): `stage` emitted `message`. A span for the stage, from when the message left the stage before. */
export function traceStage(message: Message, stage: string): void {
  const record = recordOf(message, stage);
  if (record === undefined) return;
  const at = now();
  // the outputs of one stage (a split) are one span; a wasm call or a sink traced itself already
  if (record.lastStage !== stage) {
    const { api, tracer } = record.tracer;
    tracer.startSpan(stage, { kind: api.SpanKind.INTERNAL, startTime: record.lastAt }, record.context).end(at);
  }
  record.lastStage = stage;
  record.lastAt = at;
}

/**
 * A sink took `message`: a span for its write, and the message the sink queues instead of it, with the span's trace
 * context in its metadata (`traceparent`, `tracestate`), so that the service carries the trace on. Same settlement.
 */
export function traceSinkArrival(message: Message, sink: string, scheme: string, deadLetter: boolean): Message {
  const record = recordOf(message, sink);
  if (record === undefined) return message;
  const { api, tracer, propagator } = record.tracer;
  const span = tracer.startSpan(
    `${deadLetter ? 'dead letter' : 'send'} ${sink}`,
    {
      kind: api.SpanKind.PRODUCER,
      attributes: {
        'messaging.system': scheme,
        'messaging.operation.type': 'send',
        'messaging.message.id': message.id,
        'wasm_pipes.sink': sink,
      },
    },
    record.context,
  );
  if (deadLetter) {
    // the original write (if any) failed for good: its span ends with the reason, and the message's trace is an error
    const reason = message.metadata[DEAD_LETTER_REASON] ?? 'dead-lettered';
    record.deadLettered = reason;
    for (const open of record.open.splice(0)) {
      open.setStatus({ code: api.SpanStatusCode.ERROR, message: `dead-lettered: ${reason}` });
      open.end();
    }
    span.setAttribute('wasm_pipes.dead_letter.reason', reason);
  }
  record.open.push(span);
  record.lastStage = sink;
  record.lastAt = now();
  const metadata: Record<string, string> = {};
  const given = message.metadata;
  for (const name in given) {
    const lower = name.toLowerCase();
    if (lower !== TRACEPARENT && lower !== TRACESTATE) metadata[name] = given[name];
  }
  propagator.inject(api.trace.setSpan(record.context, span), metadata, metadataSetter);
  const traced = message.with({ metadata });
  sends.set(traced, { record, span, attempts: 0 });
  return traced;
}

/** The sink confirmed the write of `message`. */
export function traceWriteDone(message: Message): void {
  if (message.settlement.root.trace === undefined) return;
  const send = sends.get(message);
  if (send === undefined) return;
  sends.delete(message);
  send.span.setAttribute('wasm_pipes.attempts', send.attempts + 1);
  send.record.closed(send.span);
}

/** A write of `message` failed (it may be retried): an event with the reason on its span. */
export function traceWriteFailed(message: Message, error: Error, retryable: boolean): void {
  if (message.settlement.root.trace === undefined) return;
  const send = sends.get(message);
  if (send === undefined) return;
  send.attempts++;
  send.span.addEvent('write failed', {
    attempt: send.attempts,
    retryable,
    'exception.type': error.name,
    'exception.message': error.message,
  });
  send.span.setAttributes({ 'wasm_pipes.attempts': send.attempts, 'wasm_pipes.retry_reason': error.message });
}

/** A wasm call in progress. */
export interface WasmCallTrace {
  readonly record: TraceRecord;
  readonly span: Span;
  readonly stage: string;
}

/** A wasm stage is about to call its module for `message`. */
export function beginWasmCall(message: Message, stage: string, module: string): WasmCallTrace | undefined {
  const record = recordOf(message, stage);
  if (record === undefined) return undefined;
  const { api, tracer } = record.tracer;
  const span = tracer.startSpan(stage, { kind: api.SpanKind.INTERNAL, attributes: { 'wasm.module': module } }, record.context);
  return { record, span, stage };
}

/** The fuel an instance has left, when its module is budgeted (the counter global the budget pass adds). */
function fuelLeft(instance: GuestInstance | undefined): { left: number; budget: number } | undefined {
  // GuestInstance keeps both private; reading them here keeps the tracing hook out of the instance's code
  const inside = instance as unknown as { fuel?: { value: unknown }; setup?: { budget?: number } } | undefined;
  const left = inside?.fuel?.value;
  const budget = inside?.setup?.budget;
  return typeof left === 'number' && typeof budget === 'number' ? { left, budget } : undefined;
}

/**
 * The call is over: `status` is what the module answered (undefined when it failed with `error`); outputs are counted
 * from the instance (a transform) or the answer (a filter keeps 1 or drops 0).
 */
export function endWasmCall(
  call: WasmCallTrace,
  kind: string,
  instance: GuestInstance | undefined,
  status: number | undefined,
  error: unknown,
): void {
  const { api } = call.record.tracer;
  const span = call.span;
  if (status !== undefined && status >= 0) {
    span.setAttribute('wasm.outputs', kind === 'filter' ? (status === 0 ? 0 : 1) : (instance?.outputs.length ?? 0));
  }
  const fuel = fuelLeft(instance);
  if (fuel !== undefined) span.setAttribute('wasm.fuel_used', fuel.budget - fuel.left);
  if (error !== undefined || (status !== undefined && status < 0)) {
    const message =
      error instanceof Error ? error.message : error !== undefined ? inspect(error) : (instance?.failure ?? `status ${status}`);
    span.setStatus({ code: api.SpanStatusCode.ERROR, message });
  }
  span.end();
  call.record.lastStage = call.stage;
  call.record.lastAt = now();
}
