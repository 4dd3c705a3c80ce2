// What the NATS and RabbitMQ benchmarks share: the 223-byte event, uppercase, connections to the NATS server, the
// streams of a JetStream round, and waiting for a count with a stall guard (core NATS may drop, and a benchmark must
// fail rather than hang).
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { toBuffer } from '../../lib/message';
import { pageView, uppercase as uppercaseBuffer } from './common';

export const NATS_URL = process.env.BENCH_NATS_URL ?? '127.0.0.1:4222';
export const env = { NATS_SERVER_URL: NATS_URL };

/** The page-view event at 223 bytes, the size the issue measured the raw relay with. */
export const BODY = pageView(223);

/** uppercase() of a NATS payload (a Uint8Array), through a Buffer over the same bytes. */
export function uppercase(body: Uint8Array): Buffer {
  return uppercaseBuffer(toBuffer(body));
}

export function natsConnection(servers = NATS_URL): Promise<NatsConnection> {
  return connect({ servers, name: 'wasm-pipes bench' });
}

/**
 * Two memory streams for a JetStream relay round (not timed): `<name>_IN` on the subject `<name>_IN.events`, holding
 * `messages` copies of `body` with an id each, and an empty `<name>_OUT` on `<name>_OUT.events`; `name` is unique.
 */
export async function jetstreamRound(
  connection: NatsConnection,
  prefix: string,
  messages: number,
  body: Uint8Array,
): Promise<{ input: string; output: string }> {
  const manager = await jetstreamManager(connection);
  const name = uniqueName(prefix);
  const input = `${name}_IN`;
  const output = `${name}_OUT`;
  await manager.streams.add({ name: input, subjects: [`${input}.events`], storage: StorageType.Memory });
  await manager.streams.add({ name: output, subjects: [`${output}.events`], storage: StorageType.Memory });
  const js = jetstream(connection);
  for (let start = 0; start < messages; start += 1000) {
    const count = Math.min(1000, messages - start);
    await Promise.all(Array.from({ length: count }, (_, i) => js.publish(`${input}.events`, body, { msgID: `m-${start + i}` })));
  }
  return { input, output };
}

let serial = 0;
/** A name unique to this bench run and round. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++serial}`;
}

/** How far the producer of a core NATS relay round may run ahead of its consumer. */
const RELAY_WINDOW = 4096;

/**
 * One round of a core NATS relay (P2, P8B): a consumer subscribes to the output subject, `startRelay` starts the relay
 * from the input subject to it, and a producer publishes `messages` BODYs to the input, at most RELAY_WINDOW ahead of
 * what came back, so that no relay is flooded past what core NATS would deliver (it drops slow consumers, it does not
 * wait). Resolves with the ms until all came back; `label` names the round when it stalls.
 */
export async function coreRelayRound(
  label: string,
  messages: number,
  startRelay: (input: string, output: string) => Promise<() => Promise<void>>,
): Promise<number> {
  const name = uniqueName('bench.relay');
  const input = `${name}.in`;
  const output = `${name}.out`;
  const producer = await natsConnection();
  const consumer = await natsConnection();
  let received = 0;
  consumer.subscribe(output, { callback: () => void received++ });
  await consumer.flush();
  const stop = await startRelay(input, output);
  const began = performance.now();
  let sent = 0;
  const producing = (async () => {
    while (sent < messages) {
      while (sent < messages && sent - received < RELAY_WINDOW) {
        producer.publish(input, BODY);
        sent++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  await waitForCount(() => received, messages, label);
  const elapsed = performance.now() - began;
  await producing;
  await stop();
  await producer.close();
  await consumer.close();
  return elapsed;
}

/** Resolves when `count()` reaches `target`; rejects when it stops moving for `stallMs`. */
export async function waitForCount(count: () => number | Promise<number>, target: number, what: string, stallMs = 15_000): Promise<void> {
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const now = await count();
    if (now >= target) return;
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`${what}: stuck at ${now} of ${target} for ${stallMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
