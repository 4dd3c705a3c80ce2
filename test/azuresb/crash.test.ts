// The built bin relaying Service Bus -> Service Bus, killed with SIGKILL mid-way and started again: every message
// arrives (duplicates allowed, losses not). The test server runs in this process, so it keeps its state (and the
// locks of the killed process's messages, which come back when they expire) across the bin's restart.
import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { ServiceBusTestServer } from '../fixtures/servicebus/server';
import { uniqueName, waitFor } from '../helpers/wait';
import { binEnv } from '../helpers/bin';

const BIN = path.resolve(__dirname, '../../dist/bin/wasm-pipes.js');
const COUNT = 2000;

let server: ServiceBusTestServer;
const children: ChildProcess[] = [];

beforeAll(async () => {
  // a short lock, so that what the killed process held comes back quickly
  server = await ServiceBusTestServer.start({ lockDurationMs: 3000 });
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await server.stop();
});

function startBin(env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [BIN], {
    env: binEnv({ LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  child.stderr?.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function preload(queue: string): Promise<void> {
  const client = new ServiceBusClient(server.connectionString());
  const sender = client.createSender(queue);
  let batch = await sender.createMessageBatch();
  for (let i = 0; i < COUNT; i++) {
    const message = { body: Buffer.from(JSON.stringify({ i })), messageId: `crash-${i}`, contentType: 'application/json' };
    if (!batch.tryAddMessage(message)) {
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      batch.tryAddMessage(message);
    }
  }
  await sender.sendMessages(batch);
  await client.close();
}

test('bin azuresb:// -> azuresb://, 2 000 messages, kill -9 mid-way, restart: every message arrives', async () => {
  const from = uniqueName('crash-in');
  const to = uniqueName('crash-out');
  server.createQueue(from);
  server.createQueue(to);
  try {
    await preload(from);
    expect(server.store(from).activeCount).toBe(COUNT);
    const env = {
      SOURCE_URI: `azuresb://${from}`,
      SINK_URI: `azuresb://${to}`,
      SERVICEBUS_CONNECTION_STRING: server.connectionString(),
      MAX_IN_FLIGHT: '100',
    };
    const relayed = (): Set<string> => new Set(server.store(to).messages().map((message) => String(message.sections.message_id)));

    const first = startBin(env);
    await waitFor(() => server.store(to).activeCount >= COUNT / 4, 'a quarter of the messages relayed', 30_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    const afterCrash = relayed().size;
    expect(afterCrash).toBeLessThan(COUNT); // killed mid-way, not after the end

    const second = startBin(env);
    await waitFor(() => relayed().size === COUNT, `all ${COUNT} message ids in the output queue`, 60_000);
    // the input is fully settled: nothing left, nothing locked
    await waitFor(() => server.store(from).activeCount === 0 && server.store(from).lockedCount === 0, 'the input queue to empty', 15_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    for (let i = 0; i < COUNT; i++) expect(relayed().has(`crash-${i}`)).toBe(true);
    // duplicates are allowed (messages the killed process had relayed but not completed), losses are not
    expect(server.store(to).activeCount).toBeGreaterThanOrEqual(COUNT);
    expect(second.output()).not.toMatch(/"level":(50|60)/);
  } finally {
    server.deleteQueue(from);
    server.deleteQueue(to);
  }
});
