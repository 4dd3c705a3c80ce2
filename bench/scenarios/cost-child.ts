// One measured pipeline of the cost scenarios (SIZE, WINDOW), in a process of its own so that its peak RSS is its own:
// the parent forks this file with a JSON job as its argument, and gets one JSON answer on the IPC channel.
//   {"kind":"mem","size":65536,"messages":16000,"transform":"wasm","module":"…/identity.wasm"}
//     mem:// -> wasmTransform(module) or mapMessages(identity) -> a sink that counts: {"ms","peakRssMb"}
//   {"kind":"http","size":65536,"port":9000,"natsUrl":"127.0.0.1:4222","subject":"…"}
//     http://127.0.0.1:port/events -> nats://subject: answers {"started":true} once listening, then {"peakRssMb","written"} when sent "stop"
//   {"kind":"bare","port":9000}
//     a bare node:http server that reads each body and answers 200 (what the load generator can do): like http
//   {"kind":"window","maxInFlight":1024,"messages":50000,"natsUrl":"…","input":"S_IN","output":"S_OUT"}
//     JetStream -> JetStream at this window: {"ms","peakRssMb"} once the output stream holds every message
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { OperatorFunction } from 'rxjs';
import { source, sink, start } from '../../lib';
import { SinkRuntime } from '../../lib/sink';
import { memTopic } from '../../lib/connectors/local/mem';
import type { Message } from '../../lib/message';
import { loadWasm } from '../../lib/wasm/load';
import { mapMessages, wasmTransform } from '../../operators';
import { createLogger } from '../../lib/logging/logger';
import http from 'node:http';
import { Writable } from 'node:stream';
import { peakRssMb } from './workers-helpers';

type Job =
  | { kind: 'mem'; size: number; messages: number; transform: 'wasm' | 'js'; module: string }
  | { kind: 'http'; size: number; port: number; natsUrl: string; subject: string }
  | { kind: 'bare'; port: number }
  | { kind: 'window'; maxInFlight: number; messages: number; natsUrl: string; input: string; output: string };

const quiet = createLogger({ format: 'json', destination: new Writable({ write: (_chunk, _encoding, done) => done() }), env: {} });

/**
 * This process's own peak resident memory: VmHWM, the high-water mark of its address space. Not
 * `process.resourceUsage().maxRSS`: on Linux a forked child's maxRSS starts at its parent's RSS at the fork (exec
 * records the parent's copy as a peak), so after a long bench run every size reported the bench process's 361 MB.
 * Without /proc (not Linux), the portable figure, with its quirk.
 */
function ownPeakRssMb(): number {
  return peakRssMb(process.pid) || process.resourceUsage().maxRSS / 1024;
}

function answer(value: unknown): Promise<void> {
  return new Promise((resolve) => (process.send as NonNullable<typeof process.send>)(value, undefined, {}, () => resolve()));
}

async function memJob(job: Extract<Job, { kind: 'mem' }>): Promise<void> {
  const body = Buffer.alloc(job.size, 'x');
  const name = `cost-${process.pid}`;
  const input = memTopic(name);
  // one body for every message: the input holds no more memory than the message objects
  for (let i = 0; i < job.messages; i++) input.publish({ body });
  let written = 0;
  let bytes = 0;
  const counting = new SinkRuntime(
    'count://',
    {
      scheme: 'count',
      write: (batch: readonly Message[]) => {
        written += batch.length;
        for (const message of batch) bytes += message.body.length;
      },
      close: async () => undefined,
    },
    { concurrency: 1, batch: { count: 64, linger: 0 }, logger: quiet },
  );
  const operator: OperatorFunction<Message, Message> =
    job.transform === 'wasm' ? wasmTransform(await loadWasm(job.module)) : mapMessages((m) => ({ body: m.body }));
  const began = performance.now();
  const running = start(source(`mem://${name}`, { maxInFlight: 1024 }).pipe(operator), counting, { handleSignals: false, logger: quiet });
  while (written < job.messages) await new Promise((resolve) => setImmediate(resolve));
  const ms = performance.now() - began;
  await running.stop();
  await answer({ ms, peakRssMb: ownPeakRssMb(), bytes });
}

async function httpJob(job: Extract<Job, { kind: 'http' }>): Promise<void> {
  const running = start(
    source(`http://127.0.0.1:${job.port}/events`, { maxInFlight: 1024, env: { HTTP_MAX_BODY: '2mb' } }),
    sink(`nats://${job.subject}`, { env: { NATS_SERVER_URL: job.natsUrl } }),
    { handleSignals: false, logger: quiet },
  );
  await running.started;
  process.on('message', (message: unknown) => {
    if (message === 'stop') {
      void running.stop().then(() => answer({ peakRssMb: ownPeakRssMb(), written: running.stats().written }).then(() => process.exit(0)));
    }
  });
  await answer({ started: true });
}

async function bareJob(job: Extract<Job, { kind: 'bare' }>): Promise<void> {
  let written = 0;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      written++;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(job.port, '127.0.0.1', resolve));
  process.on('message', (message: unknown) => {
    if (message === 'stop') void answer({ peakRssMb: ownPeakRssMb(), written }).then(() => process.exit(0));
  });
  await answer({ started: true });
}

async function windowJob(job: Extract<Job, { kind: 'window' }>): Promise<void> {
  const env = { NATS_SERVER_URL: job.natsUrl };
  const connection = await connect({ servers: job.natsUrl });
  const manager = await jetstreamManager(connection);
  const began = performance.now();
  const running = start(
    source(`nats://${job.input}.events?stream=${job.input}&consumer=relay`, { env, maxInFlight: job.maxInFlight }),
    sink(`nats://${job.output}.events?jetstream=true`, { env }),
    { handleSignals: false, logger: quiet },
  );
  // a stall guard longer than the ack wait (30 s): a connection the server cut comes back after it
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const count = (await manager.streams.info(job.output)).state.messages;
    if (count >= job.messages) break;
    if (count !== last) {
      last = count;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > 90_000) {
      throw new Error(`window ${job.maxInFlight}: stuck at ${count} of ${job.messages} for 90 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ms = performance.now() - began;
  await running.stop();
  await connection.close();
  await answer({ ms, peakRssMb: ownPeakRssMb() });
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as Job;
  if (job.kind === 'mem') await memJob(job);
  else if (job.kind === 'http') return httpJob(job);
  else if (job.kind === 'bare') return bareJob(job);
  else await windowJob(job);
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`cost-child: ${(error as Error).stack}\n`);
  process.exit(1);
});
