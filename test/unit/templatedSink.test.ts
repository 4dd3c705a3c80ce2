// Sink URIs with placeholders: resolved per message, a bounded set of open sinks (least recently used idle one closed
// first, idle ones closed after idleTimeout), one set of counters, and a message that lacks a named field fails alone.
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { Message } from '../../lib/message';
import { ConfigError } from '../../lib/errors';
import { type TemplatedSink } from '../../lib/templatedSink';
import { sleep, uniqueName, waitFor } from '../helpers/wait';

test('each message goes to the topic its key names; the stats count them under the template', async () => {
  const prefix = uniqueName('tpl');
  const input = memTopic(`${prefix}-in`);
  for (const key of ['a', 'b', 'a', 'c']) input.publish({ body: key, key });
  const out = sink(`mem://${prefix}-out-{key}`);
  const running = start(source(`mem://${prefix}-in`), out, { handleSignals: false });
  await waitFor(() => running.stats().acked === 4, 'every message');
  expect(memTopic(`${prefix}-out-a`).length).toBe(2);
  expect(memTopic(`${prefix}-out-b`).length).toBe(1);
  expect(memTopic(`${prefix}-out-c`).length).toBe(1);
  expect(running.stats().written).toBe(4);
  expect(running.stats().stages.find((stage) => stage.role === 'sink')?.stage).toBe(`mem://${prefix}-out-{key}`);
  await running.stop();
  for (const key of ['in', 'out-a', 'out-b', 'out-c']) memTopic(`${prefix}-${key}`).delete();
});

test('at most maxOpen sinks stay open, and an idle one is closed after idleTimeout', async () => {
  const prefix = uniqueName('tpl-lru');
  const out = sink(`mem://${prefix}-{key}`, { maxOpen: 2, idleTimeout: 200 }) as TemplatedSink;
  const outcomes: (Error | undefined)[] = [];
  for (const key of ['a', 'b', 'c']) out.next(Message.create({ body: key, key }, (error) => outcomes.push(error)));
  await waitFor(() => outcomes.length === 3, 'three writes');
  expect(out.runtimes().length).toBeLessThanOrEqual(2);
  await sleep(500);
  expect(out.runtimes()).toHaveLength(0);
  await out.close();
  for (const key of ['a', 'b', 'c']) memTopic(`${prefix}-${key}`).delete();
});

test('a message without the field a placeholder names fails alone, saying which', async () => {
  const prefix = uniqueName('tpl-missing');
  const out = sink(`mem://${prefix}-{metadata.region}`);
  const outcomes = new Map<string, Error | undefined>();
  out.next(Message.create({ body: 'eu', metadata: { region: 'eu' } }, (error) => outcomes.set('eu', error)));
  out.next(Message.create({ id: 'no-region', body: 'none' }, (error) => outcomes.set('none', error)));
  await waitFor(() => outcomes.size === 2, 'both settled');
  expect(outcomes.get('eu')).toBeUndefined();
  expect(outcomes.get('none')?.message).toBe(
    `message no-region has no value for {metadata.region} of the sink URI template 'mem://${prefix}-{metadata.region}'`,
  );
  await out.close();
  memTopic(`${prefix}-eu`).delete();
});

test('a template is checked when the sink is made: scheme, braces, parameters', () => {
  expect(() => sink('nats://orders.{region}')).toThrow(ConfigError);
  expect(() => sink('bogus://x-{key}')).toThrow("unknown scheme 'bogus://'");
  expect(() => sink('stdin://{key}')).toThrow('can only be a source');
});
