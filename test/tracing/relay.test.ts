// One message through HTTP -> bin -> NATS -> bin -> RabbitMQ -> bin -> HTTP, the bins tracing by the standard OTEL_*
// variables into an OTLP/HTTP receiver started here: the trace the client began goes on through every broker, each
// hop's receive span a child of the previous hop's send span; a message whose traceparent says "not sampled" makes no
// span anywhere and arrives with its traceparent as it was sent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BinProcess } from '../helpers/bin';
import { freePort, waitFor } from '../helpers/wait';
import { rabbitAdmin, type RabbitAdmin, uniqueQueue, RABBIT_URL } from '../rabbit/helpers';
import { uniqueSubject } from '../nats/helpers';
import { OtlpReceiver, type ReceivedSpan } from './otlpReceiver';
import { closeServer } from '../helpers/servers';

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';
const QUIET_TRACE = '5b8efff798038103d269b633813fc60c';
const QUIET_SPAN = 'eee19b7ec3c1b174';

interface Hit {
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** The end of the chain: an HTTP server that answers 200 and keeps each request. */
async function hookServer(): Promise<{ url: string; hits: Hit[]; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      hits.push({ body: Buffer.concat(chunks).toString('utf8'), headers: request.headers });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hits,
    close: () => closeServer(server),
  };
}

describe('a trace across brokers (three bins, OTLP/HTTP)', () => {
  let receiver: OtlpReceiver;
  let hook: Awaited<ReturnType<typeof hookServer>>;
  let admin: RabbitAdmin;
  let queue: string;
  const bins: BinProcess[] = [];

  beforeAll(async () => {
    receiver = new OtlpReceiver();
    hook = await hookServer();
    admin = await rabbitAdmin();
    queue = uniqueQueue('trace');
    await admin.channel.assertQueue(queue, { durable: false });
  });

  afterAll(async () => {
    for (const bin of bins) await bin.kill();
    await admin.channel.deleteQueue(queue).catch(() => undefined);
    await admin.close();
    await hook.close();
    await receiver.close();
  });

  test('HTTP -> NATS -> bin -> RabbitMQ -> bin -> HTTP keeps one trace id, hop by hop; a sampled-out message makes no span', async () => {
    const endpoint = await receiver.listen();
    const subject = `trace.${uniqueSubject('relay')}`;
    const port = await freePort();
    const otel = (service: string): Record<string, string> => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_SERVICE_NAME: service,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      LOG_LEVEL: 'info',
      NATS_SERVER_URL: '127.0.0.1:4222',
      RABBIT_SERVER_URL: RABBIT_URL,
    });
    // downstream first: core NATS delivers only to a subscriber already there
    const last = new BinProcess({ ...otel('relay-c'), SOURCE_URI: `rabbit://${queue}`, SINK_URI: hook.url });
    const middle = new BinProcess({ ...otel('relay-b'), SOURCE_URI: `nats://${subject}`, SINK_URI: `rabbit://?routing_key=${queue}` });
    bins.push(last, middle);
    await Promise.all([last.started(), middle.started()]);
    const first = new BinProcess({ ...otel('relay-a'), SOURCE_URI: `http://127.0.0.1:${port}/events`, SINK_URI: `nats://${subject}` });
    bins.push(first);
    await first.started();

    // not sampled by the client: parentbased sampling (the default) follows it in every bin
    const quiet = await fetch(`http://127.0.0.1:${port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', traceparent: `00-${QUIET_TRACE}-${QUIET_SPAN}-00` },
      body: 'quiet',
    });
    expect(quiet.status).toBeLessThan(300);
    const traced = await fetch(`http://127.0.0.1:${port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'client=web' },
      body: 'traced',
    });
    expect(traced.status).toBeLessThan(300);
    await waitFor(() => hook.hits.length === 2, 'both messages at the end of the chain', 30_000);

    // every bin flushes its spans when it stops: after that, the receiver has all there will ever be
    for (const bin of [first, middle, last]) expect(await bin.terminate()).toBe(0);
    expect(receiver.refused).toEqual([]);

    const quietHit = hook.hits.find((hit) => hit.body === 'quiet') as Hit;
    expect(quietHit.headers.traceparent).toBe(`00-${QUIET_TRACE}-${QUIET_SPAN}-00`);
    expect(receiver.spans.filter((span) => span.traceId === QUIET_TRACE)).toEqual([]);

    const spans = receiver.spans.filter((span) => span.traceId === CLIENT_TRACE);
    // nothing of this message went to another trace
    expect(receiver.spans.every((span) => span.traceId === CLIENT_TRACE)).toBe(true);
    const one = (service: string, prefix: string): ReceivedSpan => {
      const found = spans.filter((span) => span.service === service && span.name.startsWith(prefix));
      expect(found.map((span) => `${span.service} ${span.name}`)).toHaveLength(1);
      return found[0];
    };
    const receiveA = one('relay-a', 'receive http://');
    const sendA = one('relay-a', 'send nats://');
    const receiveB = one('relay-b', 'receive nats://');
    const sendB = one('relay-b', 'send rabbit://');
    const receiveC = one('relay-c', 'receive rabbit://');
    const sendC = one('relay-c', 'send http://');
    // the chain: client -> A receive -> A send -> B receive -> B send -> C receive -> C send -> the hook
    expect(receiveA.parentSpanId).toBe(CLIENT_SPAN);
    expect(sendA.parentSpanId).toBe(receiveA.spanId);
    expect(receiveB.parentSpanId).toBe(sendA.spanId);
    expect(sendB.parentSpanId).toBe(receiveB.spanId);
    expect(receiveC.parentSpanId).toBe(sendB.spanId);
    expect(sendC.parentSpanId).toBe(receiveC.spanId);
    const tracedHit = hook.hits.find((hit) => hit.body === 'traced') as Hit;
    expect(tracedHit.headers.traceparent).toBe(`00-${CLIENT_TRACE}-${sendC.spanId}-01`);
    expect(tracedHit.headers.tracestate).toBe('client=web');
    // each bin settled it, under its receive span
    for (const [service, receive] of [
      ['relay-a', receiveA],
      ['relay-b', receiveB],
      ['relay-c', receiveC],
    ] as const) {
      expect(one(service, 'ack ').parentSpanId).toBe(receive.spanId);
      expect(receive.attributes['wasm_pipes.outcome']).toBe('ack');
    }
    expect(receiveA.attributes['messaging.system']).toBe('http');
    expect(receiveB.attributes['messaging.system']).toBe('nats');
    expect(receiveC.attributes['messaging.system']).toBe('rabbit');
  });
});
