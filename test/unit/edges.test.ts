// Settlement at the edges: outputs of 1 -> N transforms hold the credit window, a slow sink is not a lost message,
// the drain is bounded as a whole and never both writes and nacks a message, a pipeline needs a sink, and sources
// subscribed late belong to their pipeline.
import { defer, EMPTY, filter, interval, mergeMap, timer } from 'rxjs';
import { source } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { type Message } from '../../lib/message';
import { type Sink, type SinkDriver, SinkRuntime } from '../../lib/sink';
import { ConfigError } from '../../lib/errors';
import { mapMessages, fanOut } from '../../operators';
import { capturingLogger, sleep, uniqueName, waitFor } from '../helpers/wait';
import { collectingSink } from '../helpers/endpoints';
import { pipelineParts } from '../../lib/run';

/** A sink driver that confirms each write after `delayMs` and remembers what it wrote, in order. */
function slowDriver(delayMs: number, written: string[] = []): SinkDriver & { written: string[]; started: string[] } {
  const started: string[] = [];
  return {
    scheme: 'slow',
    written,
    started,
    write(batch: readonly Message[]): Promise<void> {
      for (const message of batch) started.push(message.id);
      return new Promise((resolve) =>
        setTimeout(() => {
          for (const message of batch) written.push(message.id);
          resolve();
        }, delayMs),
      );
    },
    close: async () => undefined,
  };
}

function publish(count: number, prefix: string): string {
  const topic = uniqueName(prefix);
  const input = memTopic(topic);
  for (let i = 0; i < count; i++) input.publish({ id: `m${i}`, body: `m${i}` });
  return topic;
}

describe('outputs hold the credit window (1 -> N)', () => {
  test('a transform with 2 000 outputs per input takes one input at a time through a window of 10', async () => {
    const topic = publish(50, 'fanout-window');
    const held: Message[] = [];
    const pipeline = source(`mem://${topic}`, { maxInFlight: 10 }).pipe(
      mapMessages((m) => Array.from({ length: 2000 }, (_, i) => ({ body: `${m.text()}-${i}` }))),
    );
    const running = start(pipeline, collectingSink(undefined, held), { handleSignals: false, shutdownTimeout: 200 });
    await sleep(100);
    // the first input's 2 000 outputs fill the window: the source takes nothing more while they wait
    expect(running.stats().received).toBe(1);
    expect(held).toHaveLength(2000);
    // settling all but 9 of them leaves room for one more input only when fewer than 10 are alive
    for (const output of held.slice(0, 1990)) output.ack();
    await sleep(50);
    expect(running.stats().received).toBe(1);
    held[1990].ack();
    await sleep(50);
    expect(running.stats().received).toBe(2);
    expect(held).toHaveLength(4000);
    await running.stop();
    memTopic(topic).delete();
  });

  test('outputs left alive when a sibling fails no longer hold the window, and are never written', async () => {
    const topic = publish(1, 'fanout-sibling');
    const held: Message[] = [];
    const pipeline = source(`mem://${topic}`, { maxInFlight: 5, maxDeliveries: 100 }).pipe(
      mapMessages((m) => [{ body: `${m.text()}-a` }, { body: `${m.text()}-b` }, { body: `${m.text()}-c` }]),
    );
    const running = start(pipeline, collectingSink(undefined, held), { handleSignals: false, shutdownTimeout: 200 });
    await waitFor(() => held.length === 3, 'three outputs');
    held[0].nack(new Error('first output failed'));
    // its siblings are dead: a sink seeing them now skips them
    expect(held[1].settled).toBe(true);
    expect(held[2].settled).toBe(true);
    expect(pipelineParts(running).sources[0].liveCount).toBe(0);
    await running.stop();
    memTopic(topic).delete();
  });
});

describe('a slow sink is not a lost message', () => {
  test('messages queued in a slow sink do not time out, and each is written once', async () => {
    const topic = publish(12, 'slow-sink');
    const { logger, lines } = capturingLogger();
    const driver = slowDriver(60);
    const slow = new SinkRuntime('slow://', driver, { concurrency: 1, logger });
    // 12 writes of 60 ms one after the other: the last waits ~700 ms, far past an ackTimeout of 100 ms
    const running = start(source(`mem://${topic}`, { ackTimeout: 100, maxInFlight: 8, logger }), slow, { handleSignals: false });
    await waitFor(() => driver.written.length === 12, 'every message written', 10_000);
    await sleep(200);
    expect(new Set(driver.written).size).toBe(12);
    expect(driver.written).toHaveLength(12);
    expect(running.stats().timedOut).toBe(0);
    expect(running.stats().acked).toBe(12);
    expect(lines().some((line) => line.msg.includes('ackTimeout'))).toBe(false);
    await running.stop();
    memTopic(topic).delete();
  });

  test('the ack timeout still finds a message a plain filter dropped, and says no sink held it', async () => {
    const topic = publish(2, 'dropped');
    const { logger, lines } = capturingLogger();
    const pipeline = source(`mem://${topic}`, { ackTimeout: 100, logger, maxDeliveries: 1 }).pipe(filter((m) => m.text() !== 'm1'));
    const running = start(
      pipeline,
      collectingSink((message) => message.ack()),
      { handleSignals: false },
    );
    await waitFor(() => running.stats().timedOut >= 1, 'the timeout', 5000);
    expect(lines().find((line) => line.msg.includes('ackTimeout'))?.msg).toContain('No sink held them');
    await running.stop();
    memTopic(topic).delete();
  });
});

describe('the drain', () => {
  test('is bounded by shutdownTimeout, and a message is either written and acked, or nacked and not written', async () => {
    const topic = publish(40, 'drain-bound');
    const driver = slowDriver(100);
    const slow = new SinkRuntime('slow://', driver, { concurrency: 2 });
    const running = start(source(`mem://${topic}`, { maxInFlight: 40, maxDeliveries: 100 }), slow, {
      handleSignals: false,
      shutdownTimeout: 1000,
    });
    await waitFor(() => driver.started.length >= 2, 'the first writes');
    const began = Date.now();
    // 40 writes of 100 ms, two at a time, need 2 s: the drain stops the sink writing at ~640 ms, lets the writes in
    // progress finish, and nacks the rest unwritten, all within the 1 s timeout
    await running.stop();
    expect(Date.now() - began).toBeLessThan(1200);
    const stats = running.stats();
    expect(stats.acked).toBe(driver.written.length);
    expect(stats.acked).toBeGreaterThan(0);
    expect(stats.nacked).toBeGreaterThan(0);
    expect(stats.acked + stats.nacked).toBe(40);
    await sleep(300); // nothing nacked may still be written late
    expect(driver.written.length).toBe(stats.acked);
    expect(driver.started.length).toBe(stats.acked);
    memTopic(topic).delete();
  });

  test('a write still in progress at the deadline makes the stop unclean: done rejects, saying it may have been written', async () => {
    const topic = publish(3, 'write-hangs');
    const hanging: SinkDriver = { scheme: 'hangs', write: () => new Promise(() => undefined), close: async () => undefined };
    const running = start(source(`mem://${topic}`, { maxDeliveries: 100 }), new SinkRuntime('hangs://', hanging), {
      handleSignals: false,
      shutdownTimeout: 300,
    });
    await waitFor(() => running.stats().received === 3, 'the messages');
    await expect(running.stop()).rejects.toThrow('3 message(s) were still being written');
    expect(running.stats().nacked).toBe(3);
    memTopic(topic).delete();
  });

  test('a sink whose close never ends cannot hold the stop past the timeout', async () => {
    const topic = publish(3, 'close-hangs');
    const never: Sink = {
      name: 'hangs',
      ready: true,
      next: (m) => m.ack(),
      error: () => undefined,
      complete: () => undefined,
      close: () => new Promise(() => undefined),
    };
    const running = start(source(`mem://${topic}`), never, { handleSignals: false, shutdownTimeout: 300 });
    await waitFor(() => running.stats().acked === 3, 'the messages');
    const began = Date.now();
    await expect(running.stop()).rejects.toThrow('did not close within the shutdown timeout');
    expect(Date.now() - began).toBeLessThan(600);
    memTopic(topic).delete();
  });

  test('a second signal stops at once: in-flight messages are nacked and done rejects', async () => {
    const topic = publish(5, 'second-signal');
    const held: Message[] = [];
    const running = start(source(`mem://${topic}`, { maxDeliveries: 100 }), collectingSink(undefined, held), { shutdownTimeout: 60_000 });
    await waitFor(() => held.length === 5, 'the messages');
    process.emit('SIGTERM', 'SIGTERM');
    const began = Date.now();
    process.emit('SIGTERM', 'SIGTERM');
    await expect(running.done).rejects.toThrow('stopped by a second SIGTERM');
    expect(Date.now() - began).toBeLessThan(1000);
    expect(held.every((message) => message.settled)).toBe(true);
    memTopic(topic).delete();
  });
});

describe('a pipeline needs a sink', () => {
  test('start() with no sinks, and fanOut() of none, are refused', () => {
    expect(() => start(source('mem://nowhere'), [], { handleSignals: false })).toThrow(ConfigError);
    expect(() => fanOut()).toThrow(ConfigError);
  });
});

describe('sources subscribed late belong to their pipeline', () => {
  test.each([
    ['mergeMap after a timer', (uri: string) => timer(20).pipe(mergeMap(() => source(uri)))],
    ['defer', (uri: string) => defer(() => source(uri))],
    [
      'mergeMap of an interval that never completes',
      (uri: string) => interval(20).pipe(mergeMap((tick) => (tick === 0 ? source(uri) : EMPTY))),
    ],
  ])('%s: counted in stats(), and drained by stop()', async (_shape, build) => {
    const topic = publish(3, 'late');
    const driver = slowDriver(150);
    const slow = new SinkRuntime('slow://', driver, { concurrency: 3 });
    const running = start(build(`mem://${topic}`), slow, { handleSignals: false, shutdownTimeout: 5000 });
    await waitFor(() => driver.started.length === 3, 'the writes to begin');
    expect(running.sources).toHaveLength(1);
    expect(running.stats().received).toBe(3);
    expect(running.stats().stages.some((stage) => stage.role === 'source' && stage.received === 3)).toBe(true);
    // the writes are in progress: a drain waits for them instead of cutting them off
    await running.stop();
    expect(driver.written).toHaveLength(3);
    expect(running.stats().acked).toBe(3);
    memTopic(topic).delete();
  });

  test('a source subscribed after stop() began does not start', async () => {
    const topic = publish(3, 'after-stop');
    const out: Message[] = [];
    const running = start(
      timer(200).pipe(mergeMap(() => source(`mem://${topic}`))),
      collectingSink((message) => message.ack(), out),
      {
        handleSignals: false,
      },
    );
    await running.stop();
    await sleep(300);
    expect(out).toHaveLength(0);
    expect(memTopic(topic).length).toBe(3);
    memTopic(topic).delete();
  });
});
