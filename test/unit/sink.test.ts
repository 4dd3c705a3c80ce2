import { SinkRuntime, SinkDriver, WriteResult } from '../../lib/sink';
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
  return send(runtime, bodies.map((body) => ({ body })));
}

describe('the generic sink machinery', () => {
  test('never runs more writes at once than its concurrency', async () => {
    const driver = new ScriptedDriver(() => sleep(20).then(() => undefined));
    const runtime = new SinkRuntime('t', driver, { concurrency: 3 });
    const outcomes = await settle(runtime, Array.from({ length: 20 }, (_, i) => `m${i}`));
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
    expect(driver.batches).toEqual([['12345', '67890'], ['abcde', 'x']]);
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
    const driver = new ScriptedDriver(async (batch, call) => (call === 1 ? batch.map((m) => (m.text() === 'b' ? new Error('throttled') : undefined)) : undefined));
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
