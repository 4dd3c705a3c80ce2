// SIGTERM to the bin under keep-alive load (issue 19 item 8): every request on a kept-alive connection is answered,
// 200 or 503 with Connection: close; none is cut off by a reset. The clients honour Retry-After, as the 503 asks; once
// the listener has closed, their connections are refused (ECONNREFUSED), which a client knows never reached the server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { BinProcess } from '../helpers/bin';
import { freePort, sleep, uniqueName, waitFor } from '../helpers/wait';

const CONNECTIONS = 50;

describe('HTTP source: SIGTERM under keep-alive load', () => {
  let bin: BinProcess | undefined;
  const file = path.join(os.tmpdir(), `${uniqueName('http-drain')}.jsonl`);

  afterEach(async () => {
    await bin?.kill();
    fs.rmSync(file, { force: true });
  });

  test('requests in progress and on kept-alive connections get 200 or 503 (Connection: close), never a reset', async () => {
    const port = await freePort();
    bin = new BinProcess({
      SOURCE_URI: `http://127.0.0.1:${port}/events`,
      SINK_URI: `file://${file}`,
      SHUTDOWN_TIMEOUT: '10s',
      LOG_LEVEL: 'warn',
    });
    await waitFor(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body: 'warm-up' })).status === 200;
      } catch {
        return false;
      }
    }, 'the source to answer');

    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
    const statuses = new Map<number, number>();
    const closing503: boolean[] = [];
    let closingAnswers = 0;
    const errors = new Map<string, number>();
    let stopped = false;
    const loop = async (worker: number): Promise<void> => {
      for (let i = 0; !stopped; i++) {
        try {
          const response = await pool.request({
            path: '/events',
            method: 'POST',
            body: `{"worker":${worker},"i":${i}}`,
            headers: { 'content-type': 'application/json' },
          });
          await response.body.dump();
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          if (response.headers.connection === 'close') closingAnswers++;
          if (response.statusCode === 503) {
            closing503.push(response.headers.connection === 'close');
            await sleep(Number(response.headers['retry-after'] ?? 0) * 1000);
          }
        } catch (error) {
          const code = String((error as { code?: string }).code ?? (error as Error).message);
          errors.set(code, (errors.get(code) ?? 0) + 1);
          // the listener is gone: nothing more to learn from this worker
          if (code === 'ECONNREFUSED') return;
        }
      }
    };
    const workers = Array.from({ length: CONNECTIONS }, (_, worker) => loop(worker));
    await waitFor(() => (statuses.get(200) ?? 0) > 2000, '2 000 answered requests under load', 30_000);
    const exited = bin.terminate();
    await exited;
    await sleep(200);
    stopped = true;
    await Promise.all(workers);
    await pool.close();

    expect(statuses.get(200)).toBeGreaterThan(2000);
    // only refused connections (after the listener closed), no resets or cut-off requests
    expect([...errors.keys()].filter((code) => code !== 'ECONNREFUSED')).toEqual([]);
    // the drain told the kept-alive connections to close (answers in flight 200, later ones 503) rather than cutting them
    expect(closingAnswers).toBeGreaterThan(0);
    expect(closing503.every(Boolean)).toBe(true);
    expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
  });
});
