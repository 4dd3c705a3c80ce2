// Message loops: the seed README's two relays (HTTP -> NATS, then NATS -> back to the first HTTP source) circulated
// one message for ever. Each relay now raises the wasm-pipes-hops header, and a message relayed MAX_HOPS times goes
// to the dead letter (or is dropped with a warning) instead of going round again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { BinProcess, runBinToEnd } from '../helpers/bin';
import { freePort, sleep, uniqueName, waitFor } from '../helpers/wait';
import { natsConnection, uniqueSubject, NATS_URL } from '../nats/helpers';

describe('MAX_HOPS breaks message loops', () => {
  let nats: NatsConnection;
  const bins: BinProcess[] = [];
  beforeAll(async () => {
    nats = await natsConnection();
  });
  afterEach(async () => {
    for (const bin of bins.splice(0)) await bin.kill();
  });
  afterAll(async () => {
    await nats.close();
  });

  test('the seed loop (HTTP -> NATS -> the same HTTP source) stops after MAX_HOPS (default 32), into the dead letter', async () => {
    const port = await freePort();
    const subject = uniqueSubject('hops.loop');
    const dead = path.join(os.tmpdir(), `${uniqueName('hops-dead')}.jsonl`);
    // what crosses NATS, with its hop count
    const seen: string[] = [];
    const watcher = nats.subscribe(subject, {
      callback: (_error, message) => void seen.push(message.headers?.get('wasm-pipes-hops') ?? 'none'),
    });
    // the seed's two commands, with a dead letter on the first relay
    const first = new BinProcess({
      SOURCE_URI: `http://127.0.0.1:${port}/events`,
      SINK_URI: `nats://${subject}`,
      NATS_SERVER_URL: NATS_URL,
      DEAD_LETTER_URI: `file://${dead}`,
      LOG_FORMAT: 'json',
    });
    const second = new BinProcess({
      SOURCE_URI: `nats://${subject}?pipe=queue`,
      NATS_SERVER_URL: NATS_URL,
      SINK_URI: `http://127.0.0.1:${port}/events`,
      LOG_FORMAT: 'json',
    });
    bins.push(first, second);
    try {
      await Promise.all([first.started(), second.started()]);
      // the seed README's curl
      const response = await fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_type: 'test', data: { test: 'test' } }),
      });
      expect(response.status).toBe(200);
      await waitFor(
        () => fs.existsSync(dead) && fs.readFileSync(dead, 'utf8').includes('\n'),
        'the looping message in the dead letter',
        20_000,
      );
      // nothing more goes round
      const crossed = seen.length;
      await sleep(1000);
      expect(seen.length).toBe(crossed);
      // relays 1, 3, ..., 31 crossed NATS; the first relay got it back with 32 hops and stopped it
      expect(seen).toEqual(Array.from({ length: 16 }, (_, i) => String(2 * i + 1)));
      const letters = fs
        .readFileSync(dead, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { body: string; metadata: Record<string, string> });
      expect(letters).toHaveLength(1);
      expect(JSON.parse(letters[0].body)).toEqual({ event_type: 'test', data: { test: 'test' } });
      expect(letters[0].metadata['wasm-pipes-hops']).toBe('32');
      expect(letters[0].metadata['dead-letter-reason']).toMatch(/^HopLimitError: the message has been relayed 32 times \(MAX_HOPS 32\)/);
      expect(first.logs(/relayed 32 times \(MAX_HOPS 32\).*sent to the dead letter/)).toHaveLength(1);
      // both relays still run, and stop cleanly
      expect(await Promise.all([first.terminate(), second.terminate()])).toEqual([0, 0]);
    } finally {
      watcher.unsubscribe();
      fs.rmSync(dead, { force: true });
    }
  });

  test('without a dead letter the looping message is dropped (acked) with one warning per interval, and the rest flows', async () => {
    const lines = [
      JSON.stringify({ id: 'loop-1', metadata: { 'wasm-pipes-hops': '5' }, body: 'round and round' }),
      JSON.stringify({ id: 'loop-2', metadata: { 'Wasm-Pipes-Hops': '7' }, body: 'round again' }),
      JSON.stringify({ id: 'fine', metadata: { 'wasm-pipes-hops': '4' }, body: 'on its way' }),
      JSON.stringify({ id: 'fresh', metadata: {}, body: 'new' }),
    ];
    const result = await runBinToEnd(
      { SOURCE_URI: 'stdin://', SINK_URI: 'stdout://', MAX_HOPS: '5', LOG_FORMAT: 'json' },
      `${lines.join('\n')}\n`,
    );
    expect(result.status).toBe(0);
    const out = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; metadata: Record<string, string> });
    // a counted message has its count raised; stdout:// alone adds no count to a message without one
    expect(out.map((message) => [message.id, message.metadata])).toEqual([
      ['fine', { 'wasm-pipes-hops': '5' }],
      ['fresh', {}],
    ]);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('MAX_HOPS 5'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0])).toMatchObject({ level: 40, hops: 5, maxHops: 5, msg: expect.stringContaining('dropped (acked)') });
    expect(result.stderr).toContain('acked 4');
  });

  test('a relay to a broker or webhook adds the count to a message that has none; MAX_HOPS=0 turns it off', async () => {
    const subject = uniqueSubject('hops.add');
    const seen: string[] = [];
    const watcher = nats.subscribe(subject, {
      callback: (_error, message) => void seen.push(message.headers?.get('wasm-pipes-hops') ?? 'none'),
    });
    try {
      for (const maxHops of ['32', '0']) {
        const result = await runBinToEnd(
          { SOURCE_URI: 'stdin://?format=lines', SINK_URI: `nats://${subject}`, NATS_SERVER_URL: NATS_URL, MAX_HOPS: maxHops },
          'one\n',
        );
        expect(result.status).toBe(0);
      }
      await nats.flush();
      await waitFor(() => seen.length === 2, 'both messages on NATS');
      expect(seen).toEqual(['1', 'none']);
    } finally {
      watcher.unsubscribe();
    }
  });
});
