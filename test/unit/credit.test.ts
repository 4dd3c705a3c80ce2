import { type Subscription } from 'rxjs';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { type Message } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { filter } from 'rxjs';
import { mapMessages } from '../../operators';
import { capturingLogger, sleep, uniqueName, waitFor } from '../helpers/wait';
import { collectingSink } from '../helpers/endpoints';

describe('the credit window', () => {
  test('a source of 100 000 messages into a sink that never acks emits exactly maxInFlight, and waits', async () => {
    const topic = uniqueName('credit');
    const input = memTopic(topic);
    for (let i = 0; i < 100_000; i++) input.publish({ body: `m${i}` });
    const held: Message[] = [];
    const running = start(source(`mem://${topic}`, { maxInFlight: 64 }), collectingSink(undefined, held), {
      handleSignals: false,
      shutdownTimeout: 100,
    });
    await sleep(300);
    expect(held).toHaveLength(64);
    expect(running.stats().inFlight).toBe(64);
    expect(input.length).toBe(100_000 - 64);
    // settling frees exactly that much credit
    for (const message of held.slice(0, 10)) message.ack();
    await sleep(100);
    expect(held).toHaveLength(74);
    // the sink never confirmed the other 64: the drain nacks them at the timeout
    await running.stop();
    expect(held.slice(10).every((message) => message.settled)).toBe(true);
    input.delete();
  });

  test('the default window is 1024', async () => {
    const topic = uniqueName('credit-default');
    const input = memTopic(topic);
    for (let i = 0; i < 5000; i++) input.publish({ body: 'x' });
    const held: Message[] = [];
    const running = start(source(`mem://${topic}`), collectingSink(undefined, held), { handleSignals: false, shutdownTimeout: 100 });
    await sleep(200);
    expect(held).toHaveLength(1024);
    await running.stop();
    input.delete();
  });

  test('a synchronous acking sink does not recurse: 200 000 messages flow through a window of 1', async () => {
    const topic = uniqueName('credit-sync');
    const input = memTopic(topic);
    for (let i = 0; i < 200_000; i++) input.publish({ body: 'x' });
    let count = 0;
    const acking: Sink = {
      name: 'acking',
      ready: true,
      next: (m) => {
        count++;
        m.ack();
      },
      error: () => undefined,
      complete: () => undefined,
      close: async () => undefined,
    };
    const running = start(source(`mem://${topic}`, { maxInFlight: 1 }), acking, { handleSignals: false });
    await waitFor(() => count === 200_000, 'all messages');
    await running.stop();
    input.delete();
  });
});

describe('ackTimeout', () => {
  test('nacks a message a plain RxJS filter dropped, and the warning names the operator it was last seen after', async () => {
    const topic = uniqueName('ack-timeout');
    const input = memTopic(topic);
    input.publish({ body: 'keep' });
    input.publish({ body: 'drop' });
    const { logger, lines } = capturingLogger();
    const delivered: Message[] = [];
    const out: Sink = {
      name: 'out',
      ready: true,
      next: (m) => {
        delivered.push(m);
        m.ack();
      },
      error: () => undefined,
      complete: () => undefined,
      close: async () => undefined,
    };
    const pipeline = source(`mem://${topic}`, { ackTimeout: 200, logger, maxDeliveries: 1 }).pipe(
      mapMessages((m) => ({ body: m.text().toUpperCase() }), 'uppercase'),
      filter((m) => m.text() !== 'DROP'), // the pitfall: a plain filter never settles what it drops
    );
    const running = start(pipeline, out, { handleSignals: false, shutdownTimeout: 100 });
    await waitFor(() => running.stats().timedOut >= 1, 'the timeout', 5000);
    const warning = lines().find((line) => line.msg.includes('ackTimeout'));
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toContain("after 'uppercase'");
    expect(warning?.msg).toContain('filterMessages');
    expect(running.stats().nacked).toBeGreaterThanOrEqual(1);
    expect(delivered.map((m) => m.text())).toEqual(['KEEP']);
    await running.stop();
    input.delete();
  });
});

describe('dead letter after too many deliveries', () => {
  test('a message nacked maxDeliveries times goes to the dead letter, which acks the original', async () => {
    const topic = uniqueName('poison');
    const dlTopic = uniqueName('poison-dl');
    const input = memTopic(topic);
    input.publish({ id: 'poison-1', body: 'bad' });
    input.publish({ id: 'fine-1', body: 'good' });
    const deadLetter = sink(`mem://${dlTopic}`);
    let attempts = 0;
    const out: Sink = {
      name: 'picky',
      ready: true,
      next: (m) => {
        if (m.text() === 'bad') {
          attempts++;
          m.nack(new Error('cannot take it'));
        } else m.ack();
      },
      error: () => undefined,
      complete: () => undefined,
      close: async () => undefined,
    };
    const pipeline = source(`mem://${topic}?redelivery_delay=1ms`, { maxDeliveries: 3, deadLetter });
    const running = start(pipeline, out, { handleSignals: false, deadLetter });
    const dead: Message[] = [];
    const subscription: Subscription = source(`mem://${dlTopic}`).subscribe((m) => {
      dead.push(m);
      m.ack();
    });
    await waitFor(() => dead.length === 1, 'the dead letter');
    expect(attempts).toBe(3);
    expect(dead[0].id).toBe('poison-1');
    expect(dead[0].metadata['dead-letter-reason']).toContain('maxDeliveries');
    await waitFor(() => running.stats().acked === 2, 'both originals acked');
    subscription.unsubscribe();
    await running.stop();
    input.delete();
    memTopic(dlTopic).delete();
  });
});
