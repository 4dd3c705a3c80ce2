// What the NATS and RabbitMQ benchmarks share: the 223-byte event, uppercase, connections to the NATS server, and
// waiting for a count with a stall guard (core NATS may drop, and a benchmark must fail rather than hang).
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

let serial = 0;
/** A name unique to this bench run and round. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++serial}`;
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
