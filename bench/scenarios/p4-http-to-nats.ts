// P4: the HTTP source -> core NATS sink (each request answered once its publish was confirmed) against a bare
// node:http server that publishes and answers, both driven by autocannon (in a worker thread) with the same requests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { BODY, env, natsConnection, uniqueName } from './p2-p5-helpers';
import { freePort } from '../../test/helpers/wait';

const CONNECTIONS = 64;
const failures: string[] = [];
let lastAmount = 0;

/** One pass of the same load through http:// -> `sinkUri`, in msg/s. */
async function throughHttpSource(sinkUri: string, messages: number, who: string): Promise<number> {
  const port = await freePort();
  const running = start(source(`http://127.0.0.1:${port}/events`, { maxInFlight: 1024 }), sink(sinkUri, { env }), { handleSignals: false });
  await running.started;
  const elapsed = await drive(`http://127.0.0.1:${port}/events`, messages, who);
  await running.stop();
  return elapsed;
}

/** Sends `amount` POSTs to `url` and resolves with the elapsed ms; non-2xx answers and errors are recorded. */
async function drive(url: string, amount: number, who: string): Promise<number> {
  const began = performance.now();
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY.toString(),
    connections: CONNECTIONS,
    amount,
    workers: 1,
  });
  const elapsed = performance.now() - began;
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    failures.push(`${who}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts of ${amount}`);
  }
  return elapsed;
}

export const p4: Scenario = {
  id: 'P4',
  title: 'HTTP -> core NATS (answered after the publish is confirmed) vs a bare node:http server that publishes and answers',
  messages: 100_000,
  quickMessages: 20_000,
  target: 0.8,
  baseline: {
    name: 'node:http + nats.js publish, then answer',
    async run(messages) {
      const connection = await natsConnection();
      const subject = uniqueName('bench.p4.raw');
      const server = http.createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          connection.publish(subject, Buffer.concat(chunks));
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const elapsed = await drive(`http://127.0.0.1:${port}/events`, messages, 'baseline');
      await new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await connection.close();
      return elapsed;
    },
  },
  candidate: {
    name: 'wasm-pipes http:// -> nats://',
    async run(messages) {
      lastAmount = messages;
      return throughHttpSource(`nats://${uniqueName('bench.p4')}`, messages, 'candidate');
    },
  },
  async verify() {
    // the same load into mem:// (no NATS at all) shows how much of the gap is the HTTP source's own
    const topic = uniqueName('p4mem');
    const elapsed = await throughHttpSource(`mem://${topic}?max_backlog=${lastAmount + 1}`, lastAmount, 'http -> mem');
    memTopic(topic).delete();
    const notes = [`for reference, http:// -> mem:// (no NATS): ${Math.round((lastAmount / elapsed) * 1000)} msg/s`];
    if (failures.length === 0) notes.push('every request answered 2xx');
    return notes.concat(failures.map((failure) => `FAIL: ${failure}`));
  },
};
