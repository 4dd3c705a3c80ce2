// What several benchmark scenarios share: the page-view event they relay, the uppercase they apply to it, and one
// round of mem:// -> operator -> mem:// (the pipeline with no broker, which isolates the cost of the operator).
import type { OperatorFunction } from 'rxjs';
import { source, sink, start, type RunOptions } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import type { Message, MessageInit } from '../../lib/message';

/** The page-view event as JSON, padded with spaces to `size` bytes. */
export function pageView(size: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      event_type: 'page_view',
      user: 'user-0000',
      path: '/products/widgets/blue-widget-with-a-long-name',
      referrer: 'https://www.example.com/search?q=widgets',
      ts: 1700000000000,
    }).padEnd(size, ' '),
  );
}

/** The 200-byte event of P0, P1, P1B, P6 and KAFKA. */
export const BODY = pageView(200);

/** ASCII uppercase of a body, as the JS side of the comparisons computes it. */
export function uppercase(body: Buffer): Buffer {
  return Buffer.from(body.toString('latin1').toUpperCase(), 'latin1');
}

let round = 0;

/**
 * Runs `messages` messages through mem:// -> `operator` -> mem:// and resolves to the elapsed milliseconds, from the
 * start of the pipeline until the output topic holds every message. The input is published beforehand: `message(i)`,
 * by default the 200-byte BODY. `options` go to start() (its stop, not timed, flushes what they hold).
 */
export async function throughMem(
  label: string,
  messages: number,
  operator: OperatorFunction<Message, Message>,
  message: (i: number) => MessageInit = () => ({ body: BODY }),
  options: RunOptions = {},
): Promise<number> {
  const name = `bench-${label}-${process.pid}-${round++}`;
  const input = memTopic(`${name}-in`);
  for (let i = 0; i < messages; i++) input.publish(message(i));
  // the sink first: it creates the output topic with room for every message (memTopic() would create it with the
  // default backlog of 100 000, and the sink would then wait for a reader that never comes)
  const output = sink(`mem://${name}-out?max_backlog=${messages + 1}`);
  const outputTopic = memTopic(`${name}-out`);
  const began = performance.now();
  const running = start(source(`mem://${name}-in`, { maxInFlight: 1024 }).pipe(operator), output, { handleSignals: false, ...options });
  while (outputTopic.length < messages) await new Promise((resolve) => setImmediate(resolve));
  const elapsed = performance.now() - began;
  await running.stop();
  input.delete();
  outputTopic.delete();
  return elapsed;
}

/**
 * Waits until `count()` (what has arrived at `what`) reaches `messages`, looking every 2 ms. A relay that loses
 * messages must not hang the run: after two minutes it stops waiting and adds `<what>: <count> of <messages> arrived`
 * to `lost`, for the scenario's verify() to report.
 */
export async function waitUntilArrived(
  what: string,
  messages: number,
  count: () => number | Promise<number>,
  lost: string[],
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (let arrived = await count(); arrived < messages; arrived = await count()) {
    if (Date.now() > deadline) {
      lost.push(`${what}: ${arrived} of ${messages} arrived`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
