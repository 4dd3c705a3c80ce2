// The spans of a traced pipeline, in process, with the OpenTelemetry SDK's in-memory exporter given to start() as a
// tracer provider: one trace per message from its receive to its settlement, an incoming traceparent continued, the
// outgoing one written into what the sink sends, errors for nacks and dead letters, links for batches, wasm calls.
import path from 'node:path';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  AlwaysOffSampler,
} from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { start, type RunningPipeline } from '../../lib/run';
import { source } from '../../lib/endpoints';
import { memTopic } from '../../lib/connectors/local/mem';
import { type Message } from '../../lib/message';
import { SinkRuntime, type SinkDriver } from '../../lib/sink';
import { PermanentError } from '../../lib/errors';
import { tracingState } from '../../lib/tracing';
import { mapMessages, filterMessages, batchMessages, wasmTransform } from '../../operators';
import { waitFor } from '../helpers/wait';

const ROOT = path.resolve(__dirname, '../..');
const UPSTREAM_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const UPSTREAM_SPAN = '00f067aa0ba902b7';

let topicCount = 0;
function topic(): string {
  return `tracing-${process.pid}-${++topicCount}`;
}

/** A sink that keeps what it is given; `fail` makes a write fail (permanently unless said otherwise). */
function captureSink(name: string, fail?: (message: Message) => Error | undefined): { sink: SinkRuntime; written: Message[] } {
  const written: Message[] = [];
  const driver: SinkDriver = {
    scheme: 'capture',
    write(batch) {
      return batch.map((message) => {
        const error = fail?.(message);
        if (error === undefined) written.push(message);
        return error;
      });
    },
    close: async () => undefined,
  };
  return { sink: new SinkRuntime(name, driver, { retry: { maxAttempts: 2, initialDelay: 1 } }), written };
}

function traced(): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { provider, exporter };
}

function byName(spans: readonly ReadableSpan[], prefix: string): ReadableSpan {
  const found = spans.find((span) => span.name.startsWith(prefix));
  if (found === undefined) throw new Error(`no span '${prefix}...' among ${spans.map((span) => span.name).join(', ')}`);
  return found;
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

const running: RunningPipeline[] = [];
afterEach(async () => {
  for (const pipeline of running.splice(0)) await pipeline.stop();
});

describe('tracing in process (a tracer provider given to start())', () => {
  test('one trace per message: receive -> each operator -> send -> ack, continuing the incoming traceparent, and the outgoing one written for the service', async () => {
    const { provider, exporter } = traced();
    const name = topic();
    memTopic(name).publish({
      body: 'hello',
      metadata: { traceparent: `00-${UPSTREAM_TRACE}-${UPSTREAM_SPAN}-01`, tracestate: 'vendor=1', other: 'kept' },
    });
    const { sink, written } = captureSink('capture://out');
    const pipeline = source(`mem://${name}`).pipe(
      mapMessages((message) => ({ body: message.text().toUpperCase() }), 'upper'),
      filterMessages(() => true, 'keepAll'),
    );
    running.push(start(pipeline, sink, { tracerProvider: provider, handleSignals: false }));
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name.startsWith('receive')), 'the receive span to end');
    const spans = exporter.getFinishedSpans();

    const receive = byName(spans, `receive mem://${name}`);
    expect(receive.kind).toBe(SpanKind.CONSUMER);
    expect(receive.spanContext().traceId).toBe(UPSTREAM_TRACE);
    expect(parentOf(receive)).toBe(UPSTREAM_SPAN);
    expect(receive.attributes['wasm_pipes.outcome']).toBe('ack');
    expect(receive.status.code).not.toBe(SpanStatusCode.ERROR);
    for (const stage of ['upper', 'keepAll', 'send capture://out', `ack mem://${name}`]) {
      const span = byName(spans, stage);
      expect(span.spanContext().traceId).toBe(UPSTREAM_TRACE);
      expect(parentOf(span)).toBe(receive.spanContext().spanId);
    }
    const send = byName(spans, 'send capture://out');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes['wasm_pipes.attempts']).toBe(1);
    // the stages in the order the message went through them
    expect(byName(spans, 'upper').startTime <= byName(spans, 'keepAll').startTime).toBe(true);

    expect(written).toHaveLength(1);
    expect(written[0].text()).toBe('HELLO');
    expect(written[0].metadata.traceparent).toBe(`00-${UPSTREAM_TRACE}-${send.spanContext().spanId}-01`);
    expect(written[0].metadata.tracestate).toBe('vendor=1');
    expect(written[0].metadata.other).toBe('kept');
  });

  test('a message with no traceparent starts a trace; retries are events with the reason, and the attempts are counted', async () => {
    const { provider, exporter } = traced();
    const name = topic();
    memTopic(name).publish({ body: 'flaky' });
    let calls = 0;
    const { sink, written } = captureSink('capture://flaky', () => (++calls === 1 ? new Error('connection reset') : undefined));
    running.push(start(source(`mem://${name}`), sink, { tracerProvider: provider, handleSignals: false }));
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name.startsWith('receive')), 'the receive span to end');
    const spans = exporter.getFinishedSpans();
    const receive = byName(spans, 'receive');
    expect(receive.parentSpanContext).toBeUndefined();
    const send = byName(spans, 'send capture://flaky');
    expect(send.attributes['wasm_pipes.attempts']).toBe(2);
    expect(send.attributes['wasm_pipes.retry_reason']).toBe('connection reset');
    expect(send.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([
      ['write failed', 'connection reset'],
    ]);
    expect(written[0].metadata.traceparent).toBe(`00-${receive.spanContext().traceId}-${send.spanContext().spanId}-01`);
  });

  test('a nack marks the receive, settlement and send spans as errors with the reason', async () => {
    const { provider, exporter } = traced();
    const name = topic();
    memTopic(name).publish({ body: 'refused' });
    const { sink } = captureSink('capture://refuses', () => new PermanentError('400 bad request'));
    running.push(start(source(`mem://${name}`, { maxDeliveries: 1 }), sink, { tracerProvider: provider, handleSignals: false }));
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name.startsWith('nack')), 'the nack span');
    const spans = exporter.getFinishedSpans();
    for (const prefix of ['receive', 'nack', 'send capture://refuses']) {
      const span = byName(spans, prefix);
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.status.message).toContain('400 bad request');
    }
    expect(byName(spans, 'receive').attributes['wasm_pipes.outcome']).toBe('nack');
  });

  test('a dead letter marks the trace as an error (the settlement is an ack), with a span for the dead letter write', async () => {
    const { provider, exporter } = traced();
    const name = topic();
    memTopic(name).publish({ body: 'poison' });
    const deadLetter = captureSink('capture://dead');
    const main = new SinkRuntime(
      'capture://main',
      { scheme: 'capture', write: (batch) => batch.map(() => new PermanentError('schema refused')), close: async () => undefined },
      { deadLetter: deadLetter.sink },
    );
    running.push(start(source(`mem://${name}`), main, { tracerProvider: provider, handleSignals: false, deadLetter: deadLetter.sink }));
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name.startsWith('receive')), 'the receive span to end');
    const spans = exporter.getFinishedSpans();
    const receive = byName(spans, 'receive');
    expect(receive.status.code).toBe(SpanStatusCode.ERROR);
    expect(receive.status.message).toContain('schema refused');
    expect(receive.attributes['wasm_pipes.outcome']).toBe('dead_letter');
    expect(byName(spans, 'send capture://main').status.message).toContain('dead-lettered');
    const dead = byName(spans, 'dead letter capture://dead');
    expect(parentOf(dead)).toBe(receive.spanContext().spanId);
    expect(deadLetter.written[0].metadata.traceparent).toContain(dead.spanContext().spanId);
  });

  test('a batch is a span linked to every part (and each part to it), settled with them', async () => {
    const { provider, exporter } = traced();
    const name = topic();
    for (let i = 0; i < 3; i++) memTopic(name).publish({ body: `part ${i}` });
    const { sink, written } = captureSink('capture://bulk');
    running.push(
      start(source(`mem://${name}`).pipe(batchMessages({ count: 3, time: '5s' })), sink, {
        tracerProvider: provider,
        handleSignals: false,
      }),
    );
    await waitFor(() => exporter.getFinishedSpans().filter((span) => span.name.startsWith('receive')).length === 3, 'three receive spans');
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name === 'batchMessages'), 'the batch span');
    const spans = exporter.getFinishedSpans();
    const receives = spans.filter((span) => span.name.startsWith('receive'));
    const batch = byName(spans, 'batchMessages');
    expect(batch.links.map((link) => link.context.spanId).sort()).toEqual(receives.map((span) => span.spanContext().spanId).sort());
    for (const receive of receives) expect(receive.links.map((link) => link.context.spanId)).toEqual([batch.spanContext().spanId]);
    // three messages of three traces: the batch is a trace of its own, and what the sink sends continues it
    expect(batch.parentSpanContext).toBeUndefined();
    const send = byName(spans, 'send capture://bulk');
    expect(parentOf(send)).toBe(batch.spanContext().spanId);
    expect(written[0].metadata.traceparent).toBe(`00-${batch.spanContext().traceId}-${send.spanContext().spanId}-01`);
  });

  test('a wasm call is a span with the module, its outputs and the fuel it used', async () => {
    const { provider, exporter } = traced();
    const name = topic();
    memTopic(name).publish({ body: 'make me loud' });
    const { sink, written } = captureSink('capture://wasm');
    const pipeline = source(`mem://${name}`).pipe(wasmTransform(path.join(ROOT, 'examples/uppercase/uppercase.wasm')));
    running.push(start(pipeline, sink, { tracerProvider: provider, handleSignals: false }));
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name.startsWith('receive')), 'the receive span to end');
    const spans = exporter.getFinishedSpans();
    const call = byName(spans, 'wasmTransform(uppercase.wasm)');
    expect(call.attributes['wasm.module']).toBe('uppercase.wasm');
    expect(call.attributes['wasm.outputs']).toBe(1);
    expect(call.attributes['wasm.fuel_used']).toBeGreaterThan(0);
    expect(parentOf(call)).toBe(byName(spans, 'receive').spanContext().spanId);
    // one span for the call: the stage's emit is not a second one
    expect(spans.filter((span) => span.name === 'wasmTransform(uppercase.wasm)')).toHaveLength(1);
    expect(written[0].text()).toBe('MAKE ME LOUD');
  });

  test('a message the sampler leaves out makes no span and keeps its traceparent as it came', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const name = topic();
    const upstream = `00-${UPSTREAM_TRACE}-${UPSTREAM_SPAN}-00`;
    memTopic(name).publish({ body: 'quiet', metadata: { traceparent: upstream } });
    const { sink, written } = captureSink('capture://quiet');
    running.push(
      start(source(`mem://${name}`).pipe(mapMessages((message) => message)), sink, { tracerProvider: provider, handleSignals: false }),
    );
    await waitFor(() => written.length === 1, 'the message');
    await provider.forceFlush();
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(written[0].metadata.traceparent).toBe(upstream);
  });

  test('off by default: no OTEL_* variable and no provider, nothing is traced and the hooks stay asleep', async () => {
    const name = topic();
    memTopic(name).publish({ body: 'plain', metadata: { traceparent: `00-${UPSTREAM_TRACE}-${UPSTREAM_SPAN}-01` } });
    const { sink, written } = captureSink('capture://plain');
    running.push(start(source(`mem://${name}`), sink, { handleSignals: false }));
    expect(tracingState.active).toBe(0);
    await waitFor(() => written.length === 1, 'the message');
    expect(written[0].metadata).toEqual({ traceparent: `00-${UPSTREAM_TRACE}-${UPSTREAM_SPAN}-01` });
  });
});
