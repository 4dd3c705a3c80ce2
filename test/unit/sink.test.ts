import { SinkRuntime, type SinkDriver, type WriteResult } from '../../lib/sink';
import { Message } from '../../lib/message';
import { PermanentError, ConnectorError } from '../../lib/errors';
import { sink } from '../../lib/endpoints';
import { source } from '../../lib/endpoints';
import { fanOut } from '../../operators';
import { sleep, uniqueName, waitFor } from '../helpers/wait';
import { send, write } from '../helpers/endpoints';
import { memTopic } from '../../lib/connectors/local/mem';

/** A driver over an in-test service whose answers the test scripts. */
class ScriptedDriver implements SinkDriver {
  readonly scheme = 'scripted';
  batches: string[][] = [];
  active = 0;
  peak = 0;
  constructor(private readonly answer: (batch: readonly Message[], call: number) => Promise<WriteResult>) {}
  async write(batch: readonly Message[]): Promise<WriteResult> {
    this.batches.push(batch.map((m) => m.text()));
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    try {
      return await this.answer(batch, this.batches.length);
    } finally {
      this.active--;
    }
  }
  async close(): Promise<void> {}
}

function settle(runtime: SinkRuntime, bodies: string[]): Promise<(Error | undefined)[]> {
  return send(
    runtime,
    bodies.map((body) => ({ body })),
  );
}

describe('the generic sink machinery', () => {
  test('never runs more writes at once than its concurrency', async () => {
    const driver = new ScriptedDriver(() => sleep(20).then(() => undefined));
    const runtime = new SinkRuntime('t', driver, { concurrency: 3 });
    const outcomes = await settle(
      runtime,
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    expect(outcomes.every((o) => o === undefined)).toBe(true);
    expect(driver.peak).toBe(3);
    await runtime.close();
  });

  test('batches by count, and a partial batch leaves after the linger time', async () => {
    const driver = new ScriptedDriver(async () => undefined);
    const runtime = new SinkRuntime('t', driver, { concurrency: 1, batch: { count: 4, linger: 50 } });
    const began = Date.now();
    const outcomes = await settle(runtime, ['a', 'b', 'c', 'd', 'e', 'f']);
    expect(outcomes).toHaveLength(6);
    expect(driver.batches[0]).toEqual(['a', 'b', 'c', 'd']);
    expect(driver.batches.flat()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(Date.now() - began).toBeGreaterThanOrEqual(45);
    await runtime.close();
  });

  test('batches by bytes', async () => {
    const driver = new ScriptedDriver(async () => undefined);
    const runtime = new SinkRuntime('t', driver, { concurrency: 1, batch: { count: 100, bytes: 10, linger: 5 } });
    await settle(runtime, ['12345', '67890', 'abcde', 'x']);
    expect(driver.batches).toEqual([
      ['12345', '67890'],
      ['abcde', 'x'],
    ]);
    await runtime.close();
  });

  test('a batch holds just the live messages it took: queued messages settled meanwhile leave no hole', async () => {
    let release!: () => void;
    const firstWrite = new Promise<void>((resolve) => (release = resolve));
    const written: (readonly Message[])[] = [];
    const driver = new ScriptedDriver(async (batch, call) => {
      written.push(batch);
      if (call === 1) await firstWrite;
      return undefined;
    });
    const runtime = new SinkRuntime('t', driver, { concurrency: 1, batch: { count: 10 } });
    const outcomes = new Map<string, Error | undefined>();
    const messages = ['first', 'a', 'b', 'c', 'd'].map((body) => Message.create({ body }, (error) => outcomes.set(body, error)));
    for (const message of messages) runtime.next(message);
    // 'first' is being written; a..d wait. b and c are settled elsewhere (a sibling failed, a timeout) before their turn
    messages[2].nack(new Error('settled elsewhere'));
    messages[3].ack();
    release();
    await waitFor(() => outcomes.size === 5, 'every message settled');
    expect(driver.batches).toEqual([['first'], ['a', 'd']]);
    expect(written[1]).toHaveLength(2);
    expect(Object.keys(written[1])).toEqual(['0', '1']);
    expect(outcomes.get('a')).toBeUndefined();
    expect(outcomes.get('d')).toBeUndefined();
    await runtime.close();
  });

  test('retries a retryable failure with growing delays, then acks', async () => {
    const times: number[] = [];
    const driver = new ScriptedDriver(async (_batch, call) => {
      times.push(Date.now());
      if (call <= 3) throw new ConnectorError('unavailable', { scheme: 'scripted' });
      return undefined;
    });
    const runtime = new SinkRuntime('t', driver, { retry: { initialDelay: 40, maxAttempts: 5 } });
    expect(await settle(runtime, ['x'])).toEqual([undefined]);
    const gaps = times.slice(1).map((time, i) => time - times[i]);
    // equal jitter: attempt n waits between base*2^(n-1)/2 and base*2^(n-1)
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
    await runtime.close();
  });

  test('per-message results: only the failed entries are retried', async () => {
    const driver = new ScriptedDriver(async (batch, call) =>
      call === 1 ? batch.map((m) => (m.text() === 'b' ? new Error('throttled') : undefined)) : undefined,
    );
    const runtime = new SinkRuntime('t', driver, { concurrency: 1, batch: { count: 3, linger: 5 }, retry: { initialDelay: 1 } });
    expect(await settle(runtime, ['a', 'b', 'c'])).toEqual([undefined, undefined, undefined]);
    expect(driver.batches).toEqual([['a', 'b', 'c'], ['b']]);
    await runtime.close();
  });

  test('a permanent failure is not retried: it goes to the dead letter, which acks the original', async () => {
    const driver = new ScriptedDriver(async () => {
      throw new PermanentError('400 bad request');
    });
    const dlTopic = uniqueName('sink-dl');
    const deadLetter = sink(`mem://${dlTopic}`);
    const runtime = new SinkRuntime('t', driver, { deadLetter });
    expect(await settle(runtime, ['poison'])).toEqual([undefined]);
    expect(driver.batches).toHaveLength(1);
    expect(memTopic(dlTopic).length).toBe(1);
    const dead = await new Promise<Message>((resolve) => {
      const subscription = source(`mem://${dlTopic}`).subscribe((m) => {
        m.ack();
        resolve(m);
        setImmediate(() => subscription.unsubscribe());
      });
    });
    expect(dead.text()).toBe('poison');
    expect(dead.metadata['dead-letter-reason']).toContain('400 bad request');
    expect(dead.metadata['dead-letter-origin']).toBe('t');
    await runtime.close();
    memTopic(dlTopic).delete();
  });

  test('without a dead letter, exhausted retries nack the message', async () => {
    const driver = new ScriptedDriver(async () => {
      throw new Error('down');
    });
    const runtime = new SinkRuntime('t', driver, { retry: { initialDelay: 1, maxAttempts: 3 } });
    const [outcome] = await settle(runtime, ['x']);
    expect(outcome?.message).toContain('gave up after 3 attempts');
    expect(driver.batches).toHaveLength(3);
    await runtime.close();
  });

  test('close() flushes what is queued before it resolves', async () => {
    const driver = new ScriptedDriver(() => sleep(30).then(() => undefined));
    const runtime = new SinkRuntime('t', driver, { concurrency: 1 });
    const outcomes = settle(runtime, ['a', 'b', 'c']);
    await runtime.close();
    expect(driver.batches.flat()).toEqual(['a', 'b', 'c']);
    expect(await outcomes).toEqual([undefined, undefined, undefined]);
  });
});

describe('fanOut', () => {
  test('with one slow and one fast sink, the message is acked only after both confirmed', async () => {
    const fast = new ScriptedDriver(async () => undefined);
    const slow = new ScriptedDriver(() => sleep(150).then(() => undefined));
    const both = fanOut(new SinkRuntime('fast', fast), new SinkRuntime('slow', slow));
    const began = Date.now();
    let ackedAt = 0;
    await new Promise<void>((resolve) =>
      both.next(
        Message.create({ body: 'x' }, (error) => {
          expect(error).toBeUndefined();
          ackedAt = Date.now();
          resolve();
        }),
      ),
    );
    expect(fast.batches).toEqual([['x']]);
    expect(slow.batches).toEqual([['x']]);
    expect(ackedAt - began).toBeGreaterThanOrEqual(140);
    await both.close();
  });

  test('is nacked when any sink fails permanently, even if the other confirmed', async () => {
    const good = new ScriptedDriver(async () => undefined);
    const bad = new ScriptedDriver(async () => {
      throw new PermanentError('rejected');
    });
    const both = fanOut(new SinkRuntime('good', good), new SinkRuntime('bad', bad));
    const outcome = await write(both, { body: 'x' });
    expect(outcome?.message).toBe('rejected');
    await both.close();
    await waitFor(() => good.batches.length === 1, 'the good write');
  });
});

describe("order: 'key'", () => {
  /** A driver that fails every third write (retryable) and records the bodies it stored, in order. */
  function flakyDriver(): SinkDriver & { stored: Message[]; writes: number } {
    const driver = {
      scheme: 'flaky',
      stored: [] as Message[],
      writes: 0,
      write(batch: readonly Message[]): Promise<void> {
        const attempt = ++driver.writes;
        return new Promise((resolve, reject) =>
          setTimeout(() => {
            if (attempt % 3 === 0) reject(new Error('every third write fails'));
            else {
              driver.stored.push(...batch);
              resolve();
            }
          }, Math.random() * 3),
        );
      },
      close: async () => undefined,
    };
    return driver;
  }

  function perKey(messages: readonly Message[]): Map<string, number[]> {
    const byKey = new Map<string, number[]>();
    for (const message of messages) {
      const list = byKey.get(message.key as string) ?? [];
      list.push(Number(message.text()));
      byKey.set(message.key as string, list);
    }
    return byKey;
  }

  /**
   * Writes `count` messages over `keys` keys through a sink of 8 writers in batches of 16 that retries its failures,
   * waits until every one is acked, and closes the sink.
   */
  async function writeKeyed(driver: SinkDriver, count: number, keys: number, options: { order?: 'key' } = {}): Promise<void> {
    const sinkRuntime = new SinkRuntime('flaky://', driver, {
      ...options,
      concurrency: 8,
      batch: { count: 16 },
      retry: { maxAttempts: 100, initialDelay: 1, maxDelay: 20 },
    });
    let acked = 0;
    for (let i = 0; i < count; i++) {
      sinkRuntime.next(
        Message.create({ body: String(i), key: `k${i % keys}` }, (error) => {
          if (error === undefined) acked++;
        }),
      );
    }
    await waitFor(() => acked === count, 'every message written', 60_000);
    await sinkRuntime.close();
  }

  test('10 000 messages over 100 keys into a sink failing every third write arrive in per-key order', async () => {
    const driver = flakyDriver();
    await writeKeyed(driver, 10_000, 100, { order: 'key' });
    expect(driver.stored).toHaveLength(10_000);
    for (const [, sequence] of perKey(driver.stored)) expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
  });

  test("without order: 'key' the same sink reorders keys under retries (what the option is for)", async () => {
    const driver = flakyDriver();
    await writeKeyed(driver, 10_000, 100);
    const outOfOrder = [...perKey(driver.stored).values()].filter((sequence) =>
      sequence.some((value, i) => i > 0 && value < sequence[i - 1]),
    );
    expect(outOfOrder.length).toBeGreaterThan(0);
  });

  test('a driver that declares ordered (SQS FIFO, Kafka, Pub/Sub ordering) keeps key order without the option', async () => {
    const driver = Object.assign(flakyDriver(), { ordered: true });
    await writeKeyed(driver, 3000, 30);
    for (const [, sequence] of perKey(driver.stored)) expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
  });
});
