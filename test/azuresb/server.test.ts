// The Service Bus test server, checked with the real SDK: what it implements behaves as Service Bus does, and what it
// does not implement is refused with an explicit error, never silently accepted.
import { ServiceBusClient, isServiceBusError } from '@azure/service-bus';
import { ServiceBusTestServer } from '../fixtures/servicebus/server';
import { sleep, uniqueName, waitFor } from '../helpers/wait';

let server: ServiceBusTestServer;
let client: ServiceBusClient;

beforeAll(async () => {
  server = await ServiceBusTestServer.start();
  client = new ServiceBusClient(server.connectionString(), { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } });
});
afterAll(async () => {
  await client.close();
  await server.stop();
});

function queue(options?: Parameters<ServiceBusTestServer['createQueue']>[1]): string {
  const name = uniqueName('srv');
  server.createQueue(name, options);
  return name;
}

async function failure(operation: () => Promise<unknown>): Promise<Error> {
  try {
    await operation();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the operation to fail');
}

describe('the Service Bus test server, as the SDK sees it', () => {
  test('a drain is answered: two empty receives use one link (an unanswered drain makes the SDK close it)', async () => {
    const name = queue();
    const receiver = client.createReceiver(name);
    const before = server.receiveLinksOpened;
    expect(await receiver.receiveMessages(5, { maxWaitTimeInMs: 300 })).toEqual([]);
    await client.createSender(name).sendMessages([{ body: 'one' }, { body: 'two' }]);
    const got = await receiver.receiveMessages(5, { maxWaitTimeInMs: 2000 });
    expect(got.map((message) => message.body)).toEqual(['one', 'two']);
    expect(await receiver.receiveMessages(5, { maxWaitTimeInMs: 300 })).toEqual([]);
    expect(server.receiveLinksOpened - before).toBe(1);
    for (const message of got) await receiver.completeMessage(message);
    await receiver.close();
  });

  test('an expired lock: the message comes back with its delivery count up, and the late complete is refused', async () => {
    const name = queue({ lockDurationMs: 300 });
    await client.createSender(name).sendMessages({ body: 'slow' });
    const receiver = client.createReceiver(name, { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    expect(first.deliveryCount).toBe(0);
    await sleep(500);
    const error = await failure(() => receiver.completeMessage(first));
    expect(isServiceBusError(error) && error.code).toBe('MessageLockLost');
    const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    expect(again.messageId).toBe(first.messageId);
    expect(again.deliveryCount).toBe(1);
    await receiver.completeMessage(again);
    await receiver.close();
  });

  test("the entity's max delivery count moves a message to its dead-letter queue", async () => {
    const name = queue({ maxDeliveryCount: 2 });
    await client.createSender(name).sendMessages({ body: 'poison', messageId: 'p-1' });
    const receiver = client.createReceiver(name);
    for (let i = 0; i < 2; i++) {
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
      await receiver.abandonMessage(message);
    }
    await waitFor(() => server.store(`${name}/$deadletterqueue`).activeCount === 1, 'the dead-lettered message');
    const dead = client.createReceiver(name, { subQueueType: 'deadLetter' });
    const [message] = await dead.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    expect(message.messageId).toBe('p-1');
    expect(message.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    await dead.completeMessage(message);
    await receiver.close();
    await dead.close();
  });

  test('a message past its time to live is not delivered', async () => {
    const name = queue();
    await client.createSender(name).sendMessages([{ body: 'stale', timeToLive: 100 }, { body: 'fresh' }]);
    await sleep(300);
    const receiver = client.createReceiver(name);
    const got = await receiver.receiveMessages(5, { maxWaitTimeInMs: 1000 });
    expect(got.map((message) => message.body)).toEqual(['fresh']);
    await receiver.completeMessage(got[0]);
    await receiver.close();
  });

  test("more deliveries and management replies than rhea's session buffer (2048) do not stall a link", async () => {
    const name = queue();
    const count = 2500;
    server.publish(
      name,
      Array.from({ length: count }, (_, i) => ({ body: `m-${i}` })),
    );
    const receiver = client.createReceiver(name);
    let completed = 0;
    const subscription = receiver.subscribe(
      {
        processMessage: async (message) => void (await receiver.completeMessage(message), completed++),
        processError: async () => undefined,
      },
      { autoCompleteMessages: false, maxConcurrentCalls: 500 },
    );
    await waitFor(() => completed === count, `${count} completes`, 30_000);
    await subscription.close();
    expect(server.store(name).stats.completed).toBe(count);
    // every renewal is a request and a reply on the same $management links
    await client.createSender(name).sendMessages({ body: 'held' });
    const [held] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    for (let round = 0; round < 21; round++) await Promise.all(Array.from({ length: 100 }, () => receiver.renewMessageLock(held)));
    expect(server.store(name).stats.renewed).toBe(2100);
    await receiver.completeMessage(held);
    await receiver.close();
  });

  test('peek returns messages without locking them', async () => {
    const name = queue();
    await client.createSender(name).sendMessages([{ body: 'a' }, { body: 'b' }]);
    const receiver = client.createReceiver(name);
    const peeked = await receiver.peekMessages(5);
    expect(peeked.map((message) => message.body)).toEqual(['a', 'b']);
    expect(server.store(name).lockedCount).toBe(0);
    await receiver.close();
  });

  test('a wrong key is refused by $cbs with InvalidSignature', async () => {
    const name = queue();
    const wrong = new ServiceBusClient(server.connectionString('wrong-key'), { retryOptions: { maxRetries: 0 } });
    const error = await failure(() => wrong.createSender(name).sendMessages({ body: 'x' }));
    await wrong.close();
    expect(String(error.message) + JSON.stringify((error as AggregateError).errors?.map((e: Error) => e.message) ?? [])).toContain(
      'InvalidSignature',
    );
  });
});

describe('what the test server does not implement fails clearly', () => {
  test('sessions', async () => {
    const name = queue();
    const error = await failure(() => client.acceptNextSession(name));
    expect(error.message).toContain('sessions are not implemented');
    expect(() => server.createQueue(uniqueName('s'), { requiresSession: true })).toThrow(/sessions are not implemented/);
  });

  test('scheduled messages, on send and through $management', async () => {
    const name = queue();
    const sender = client.createSender(name);
    const sent = await failure(() => sender.sendMessages({ body: 'later', scheduledEnqueueTimeUtc: new Date(Date.now() + 60_000) }));
    expect(sent.message).toContain('scheduled messages are not implemented');
    const scheduled = await failure(() => sender.scheduleMessages({ body: 'later' }, new Date(Date.now() + 60_000)));
    expect(scheduled.message).toContain("'com.microsoft:schedule-message' is not implemented");
    expect(server.store(name).activeCount).toBe(0);
  });

  test('deferral', async () => {
    const name = queue();
    await client.createSender(name).sendMessages({ body: 'defer me' });
    const receiver = client.createReceiver(name);
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    const error = await failure(() => receiver.deferMessage(message));
    expect(error.message).toContain('deferring messages is not implemented');
    await receiver.close();
  });

  test('subscription rules, and receiving from a topic', async () => {
    const topic = uniqueName('topic');
    server.createTopic(topic);
    server.createSubscription(topic, 'all');
    const rules = await failure(() => client.createRuleManager(topic, 'all').createRule('orders', { sqlExpression: "kind = 'order'" }));
    expect(rules.message).toContain('is not implemented');
    const fromTopic = await failure(() => client.createReceiver(topic).receiveMessages(1, { maxWaitTimeInMs: 1000 }));
    expect(fromTopic.message).toContain('receive from one of its subscriptions');
    server.deleteTopic(topic);
  });
});
