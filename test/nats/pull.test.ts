// The JetStream source as a pull driver, on the shared server: each pull request asks for no more than the credit
// window has room for and within the consumer's own limits (max_batch, max_expires); what arrives is handed over at
// once, not when the request fills or expires; a failed pull request (the consumer deleted) is made again with a
// backoff, and the source resumes once the consumer is back.
import { DeliverPolicy } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { source, start, type Message } from '../../lib';
import { pipelineParts } from '../../lib/run';
import { sharedJetStreamForFile } from './helpers';
import { capturingLogger, sleep, waitFor } from '../helpers/wait';
import { collectingSink } from '../helpers/endpoints';

const shared = sharedJetStreamForFile();
const { env, endpoints, newStream, publishNumbered, addRelayConsumer } = shared;
const { collect } = endpoints;

test('a message published into an idle stream is handed over as it arrives, not when the pull request expires', async () => {
  const { stream, subject } = await newStream('IDLE_PULL', 0);
  const received = collect(`nats://${subject}?stream=${stream}&consumer=relay`);
  // the source waits in an open pull request (of up to the whole window, expiring after 30 s)
  await sleep(1000);
  await publishNumbered(subject, 0, 1);
  await waitFor(() => received.length === 1, 'the first message, well before the 30 s expiry', 10_000);
  received[0].ack();
  // and the same request goes on bringing what comes next
  await publishNumbered(subject, 1, 2);
  await waitFor(() => received.length === 3, 'two more', 10_000);
  expect(received.map((message) => message.id)).toEqual(['m-0', 'm-1', 'm-2']);
  for (const message of received) message.ack();
});

test('the source holds no more than the window: nothing more is taken from the server until messages settle', async () => {
  const { stream, subject } = await newStream('WINDOW', 30);
  const received = collect(`nats://${subject}?stream=${stream}&consumer=relay`, { maxInFlight: 8 });
  await waitFor(() => received.length === 8, 'a full window');
  await sleep(500);
  expect(received).toHaveLength(8);
  expect((await shared.manager.consumers.info(stream, 'relay')).num_ack_pending).toBe(8);
  // settling as they come lets the rest through, in order
  await waitFor(() => {
    for (const message of received) message.ack();
    return received.length === 30;
  }, 'all 30');
  expect(received.map((message) => message.id)).toEqual(Array.from({ length: 30 }, (_, i) => `m-${i}`));
  for (const message of received) message.ack();
});

test("an existing consumer's max_batch and max_expires are kept: pull requests the server would refuse are not made", async () => {
  const { stream, subject } = await newStream('LIMITS', 50);
  await addRelayConsumer(stream, {
    filter_subject: subject,
    max_batch: 10,
    max_expires: nanos(5000),
  });
  const received: Message[] = [];
  endpoints.subscriptions.push(
    source(`nats://${subject}?stream=${stream}&consumer=relay`, { env, maxInFlight: 100 }).subscribe((message) => {
      received.push(message);
      message.ack();
    }),
  );
  await waitFor(() => received.length === 50, 'the 50 messages, in pull requests of at most 10', 20_000);
  expect(new Set(received.map((message) => message.id)).size).toBe(50);
});

test('a deleted consumer: pulling fails, is logged and tried again with a backoff, and the source resumes once it is back', async () => {
  const { stream, subject } = await newStream('DELETED', 1);
  const { logger, lines } = capturingLogger('warn');
  const collector = collectingSink((message) => message.ack());
  const { received } = collector;
  const running = start(source(`nats://${subject}?stream=${stream}&consumer=relay`, { env, logger }), collector, {
    handleSignals: false,
    logger,
  });
  await waitFor(() => received.length === 1, 'the first message');
  const config = (await shared.manager.consumers.info(stream, 'relay')).config;
  await shared.manager.consumers.delete(stream, 'relay');
  await waitFor(
    () => lines().some((line) => line.msg.includes('receiving failed') && line.msg.includes(`consumer 'relay' of stream '${stream}'`)),
    'the failed pull request, logged with the consumer it was for',
    20_000,
  );
  // created again from the stream's end, as an operator would, so that only what is published now comes
  await shared.manager.consumers.add(stream, { ...config, deliver_policy: DeliverPolicy.New });
  await publishNumbered(subject, 1, 1);
  await waitFor(() => received.length >= 2, 'the message published once the consumer is back', 30_000);
  expect(received).toHaveLength(2);
  expect(received[1].id).toBe('m-1');
  expect(pipelineParts(running).sources[0].driver.ready).toBe(true);
  await running.stop();
});

test('messages held when the source stops go back at once: a new source takes them well inside the ack wait', async () => {
  const { stream, subject } = await newStream('GIVEBACK', 20);
  const first = collect(`nats://${subject}?stream=${stream}&consumer=relay&ack_wait=60s`, { maxInFlight: 10 });
  await waitFor(() => first.length === 10, 'a full window, held unsettled');
  endpoints.unsubscribeAll();
  const second = collect(`nats://${subject}?stream=${stream}&consumer=relay&ack_wait=60s`);
  await waitFor(
    () => {
      for (const message of second) message.ack();
      return new Set(second.map((message) => message.id)).size === 20;
    },
    'all 20, the 10 the first source held among them',
    20_000,
  );
});
