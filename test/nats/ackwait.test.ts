// The JetStream source's ack wait, on the shared server: NATS's 30 s by default; messages the pipeline holds longer than
// half of it get in-progress acks, so a slow sink causes no redelivery; `ready` turns false while the consumer has work
// but nothing moves (a crashed copy's messages waiting out the ack wait); and a JetStream sink warns at start-up when
// its stream's duplicate window cannot cover a redelivery.
import { jetstream, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { sharedJetStreamForFile, uniqueSubject } from './helpers';
import { capturingLogger, sleep, waitFor } from '../helpers/wait';
import { collectingSink } from '../helpers/endpoints';
import { pipelineParts } from '../../lib/run';

const shared = sharedJetStreamForFile();
const { env, endpoints, streams, newStream, addRelayConsumer } = shared;
const { collect } = endpoints;

test('a new consumer gets the 30 s ack wait of NATS, not one derived from ACK_TIMEOUT', async () => {
  const { stream, subject } = await newStream('DEFAULTS', 0);
  const running = start(
    source(`nats://${subject}?stream=${stream}&consumer=relay`, { env, ackTimeout: '2m' }),
    sink('mem://unused-ackwait'),
    {
      handleSignals: false,
    },
  );
  await running.started;
  expect((await shared.manager.consumers.info(stream, 'relay')).config.ack_wait).toBe(nanos(30_000));
  await running.stop();
  memTopic('unused-ackwait').delete();
});

test('messages held longer than the ack wait are not redelivered: the source sends in-progress acks while it holds them', async () => {
  const { stream, subject } = await newStream('SLOW', 3);
  // a sink that takes 5 s, with an ack wait of 2 s
  const received = collect(`nats://${subject}?stream=${stream}&consumer=relay&ack_wait=2s`);
  await waitFor(() => received.length === 3, 'the three messages');
  await sleep(5000);
  expect(received.map((message) => message.id)).toEqual(['m-0', 'm-1', 'm-2']);
  const held = await shared.manager.consumers.info(stream, 'relay');
  expect(held.num_redelivered).toBe(0);
  expect(held.num_ack_pending).toBe(3);
  for (const message of received) message.ack();
  await waitFor(async () => (await shared.manager.consumers.info(stream, 'relay')).num_ack_pending === 0, 'the acks');
  expect(received).toHaveLength(3);
});

test('ready is false while a stalled consumer delivers nothing (a crashed copy holds every slot), true once it moves', async () => {
  const { stream, subject } = await newStream('STALL', 5);
  // a copy of the pipeline that took every message of max_ack_pending and died without acking them
  await addRelayConsumer(stream, {
    filter_subject: subject,
    max_ack_pending: 5,
    ack_wait: nanos(4000),
  });
  const crashed = await jetstream(shared.connection).consumers.get(stream, 'relay');
  const taken = await crashed.fetch({ max_messages: 5, expires: 2000 });
  let held = 0;
  for await (const _message of taken) if (++held === 5) break;
  expect(held).toBe(5);

  const { logger, lines } = capturingLogger('info');
  const collector = collectingSink();
  const { received } = collector;
  const running = start(
    source(`nats://${subject}?stream=${stream}&consumer=relay&ack_wait=4s&stall_after=1s`, { env, maxInFlight: 5, logger }),
    collector,
    { handleSignals: false },
  );
  await running.started;
  const driver = pipelineParts(running).sources[0].driver;
  expect(driver.ready).toBe(true);
  await waitFor(() => driver.ready === false, 'the source to report the stall', 4000);
  expect(received).toHaveLength(0);
  expect(
    lines().some((line) => line.msg.includes(`consumer 'relay' of stream '${stream}' has messages waiting but delivered nothing`)),
  ).toBe(true);
  // the ack wait runs out: the messages come back, and the source is ready again
  await waitFor(() => received.length === 5, 'the redelivered messages', 10_000);
  await waitFor(() => driver.ready === true, 'ready again', 10_000);
  for (const message of received) message.ack();
  await running.stop();
});

test('an idle consumer (nothing waiting) is not stalled', async () => {
  const { stream, subject } = await newStream('IDLE', 0);
  const running = start(source(`nats://${subject}?stream=${stream}&consumer=relay&stall_after=500ms`, { env }), sink('mem://unused-idle'), {
    handleSignals: false,
  });
  await running.started;
  await sleep(1500);
  expect(pipelineParts(running).sources[0].driver.ready).toBe(true);
  await running.stop();
  memTopic('unused-idle').delete();
});

describe("the sink's duplicate window and the source's ack wait", () => {
  async function streamWithWindow(prefix: string, windowMs: number): Promise<string> {
    const stream = uniqueSubject(prefix);
    await shared.manager.streams.add({
      name: stream,
      subjects: [`test.${stream}`],
      storage: StorageType.Memory,
      duplicate_window: nanos(windowMs),
    });
    streams.push(stream);
    return stream;
  }

  test('a JetStream sink warns at start-up when its stream forgets ids before a redelivery could come back', async () => {
    const { stream: input, subject } = await newStream('WINDOW_IN', 0);
    const output = await streamWithWindow('WINDOW_OUT', 5000);
    const { logger, lines } = capturingLogger('warn');
    const running = start(
      source(`nats://${subject}?stream=${input}&consumer=relay&ack_wait=10s`, { env, logger }),
      sink(`nats://test.${output}?jetstream=true`, { env, logger }),
      { handleSignals: false },
    );
    await running.started;
    const warning = lines().find((line) => line.msg.includes(`stream '${output}' remembers message ids for 5000 ms`));
    expect(warning?.msg).toContain("less than twice the JetStream source's ack wait (10000 ms)");
    expect(warning?.msg).toContain(`nats stream edit ${output} --dupe-window 1m`);
    await running.stop();
  });

  test('with the defaults (2 min window, 30 s ack wait) there is no warning', async () => {
    const { stream: input, subject } = await newStream('WINDOW_OK_IN', 0);
    const { stream: output } = await newStream('WINDOW_OK_OUT', 0);
    const { logger, lines } = capturingLogger('warn');
    const running = start(
      source(`nats://${subject}?stream=${input}&consumer=relay`, { env, logger }),
      sink(`nats://test.${output}?jetstream=true`, { env, logger }),
      {
        handleSignals: false,
      },
    );
    await running.started;
    expect(lines().filter((line) => line.msg.includes('remembers message ids'))).toEqual([]);
    await running.stop();
  });
});
