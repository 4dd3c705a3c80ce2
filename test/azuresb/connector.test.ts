// azuresb:// beyond the conformance suite: delivery counts, dead-lettering, lock renewal, the metadata mapping,
// size limits, start-up failures and reconnection, against the Service Bus test server with the real SDK.
import { ServiceBusClient } from '@azure/service-bus';
import { source, sink } from '../../lib/endpoints';
import { createSource } from '../../lib/source';
import { start } from '../../lib/run';
import { Message } from '../../lib/message';
import { lookupScheme, paramNames, parseEndpointUri } from '../../lib/registry';
import { connectorPage, expectDeclaredAndNamed } from '../helpers/paramsTable';
import { AzureSbSource } from '../../lib/connectors/azure/serviceBus';
import { sourceConfig } from '../../lib/connectors/azure/config';
import { ConnectorError, PermanentError } from '../../lib/errors';
import type { Sink } from '../../lib/sink';
import { sleep, uniqueName, waitFor } from '../helpers/wait';
import { collect, startBus, type TestBus } from './helpers';

let bus: TestBus;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  bus = await startBus({ lockDurationMs: 10_000 });
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  // an unsubscribed source closes its client asynchronously: wait, so that nothing outlives the test
  await waitFor(() => bus.server.connectionCount === 0, 'every client to disconnect', 15_000);
});
afterAll(async () => {
  await bus.stop();
});

function openSink(uri: string): Sink {
  const opened = sink(uri, { env: bus.env, retry: { maxAttempts: 1 } });
  closers.push(() => opened.close());
  return opened;
}

function send(target: Sink, inits: Parameters<typeof Message.create>[0][]): Promise<(Error | undefined)[]> {
  return Promise.all(
    inits.map((init) => new Promise<Error | undefined>((resolve) => target.next(Message.create(init, (error) => resolve(error))))),
  );
}

function rawClient(): ServiceBusClient {
  const client = new ServiceBusClient(bus.server.connectionString());
  closers.push(() => client.close());
  return client;
}

describe('azuresb:// delivery and dead-lettering', () => {
  test('a nacked message comes back with its delivery count rising: 1, 2, 3', async () => {
    const queue = bus.queue();
    expect(await send(openSink(`azuresb://${queue}`), [{ body: 'again', id: 'again-1' }])).toEqual([undefined]);
    const { messages, subscription } = collect(source(`azuresb://${queue}`, { env: bus.env }), (message, index) => {
      if (index < 2) message.nack(new Error('not yet'));
      else message.ack();
    });
    closers.push(async () => subscription.unsubscribe());
    await waitFor(() => messages.length >= 3, 'three deliveries');
    expect(messages.map((message) => message.id)).toEqual(['again-1', 'again-1', 'again-1']);
    expect(messages.map((message) => message.metadata['azuresb-delivery-count'])).toEqual(['1', '2', '3']);
    await waitFor(() => bus.server.store(queue).stats.completed === 1, 'the complete');
    expect(bus.server.store(queue).stats.abandoned).toBe(2);
  });

  test('acks and nacks of neighbouring messages in one tick: the nacked ones come back, the acked ones do not', async () => {
    // rhea writes one tick's dispositions as ranges of consecutive deliveries: an ack beside a nack must not share one
    const queue = bus.queue();
    const ids = ['tick-a', 'tick-b', 'tick-c', 'tick-d'];
    expect(
      await send(
        openSink(`azuresb://${queue}`),
        ids.map((id) => ({ body: id, id })),
      ),
    ).toEqual(ids.map(() => undefined));
    // the first four are held, to be settled together; what comes back after is acked
    const { messages, subscription } = collect(source(`azuresb://${queue}`, { env: bus.env }), (message, index) => {
      if (index >= ids.length) message.ack();
    });
    closers.push(async () => subscription.unsubscribe());
    await waitFor(() => messages.length === ids.length, 'the four deliveries');
    expect(messages.map((message) => message.id)).toEqual(ids);
    const [a, b, c, d] = messages;
    a.ack();
    b.nack(new Error('on purpose'));
    c.nack(new Error('on purpose'));
    d.ack();
    await waitFor(() => messages.length === ids.length + 2, 'the two nacked messages again');
    expect(
      messages
        .slice(ids.length)
        .map((message) => message.id)
        .sort(),
    ).toEqual(['tick-b', 'tick-c']);
    // every message completed, and nothing left in the queue that could still come back
    const store = bus.server.store(queue);
    await waitFor(() => store.stats.completed === ids.length && store.activeCount === 0 && store.lockedCount === 0, 'the queue to empty');
    expect(store.stats.abandoned).toBe(2);
    expect(messages).toHaveLength(ids.length + 2);
  });

  test('past maxDeliveries with no dead-letter sink: moved to the Service Bus dead-letter queue with the reason', async () => {
    const queue = bus.queue();
    expect(await send(openSink(`azuresb://${queue}`), [{ body: 'poison', id: 'poison-1' }])).toEqual([undefined]);
    const main = collect(source(`azuresb://${queue}`, { env: bus.env, maxDeliveries: 2 }), (message) => message.nack(new Error('cannot')));
    closers.push(async () => main.subscription.unsubscribe());
    await waitFor(() => bus.server.store(`${queue}/$deadletterqueue`).activeCount === 1, 'the dead-lettered message');
    // the third delivery never reached the pipeline: the source dead-lettered it itself
    expect(main.messages).toHaveLength(2);
    const dead = collect(source(`azuresb://${queue}?subqueue=deadletter`, { env: bus.env }));
    closers.push(async () => dead.subscription.unsubscribe());
    await waitFor(() => dead.messages.length === 1, 'the message from the dead-letter queue');
    expect(dead.messages[0].id).toBe('poison-1');
    expect(dead.messages[0].text()).toBe('poison');
    expect(dead.messages[0].metadata.DeadLetterReason).toBe('MaxDeliveriesExceeded');
    expect(dead.messages[0].metadata.DeadLetterErrorDescription).toContain('more than maxDeliveries (2)');
    expect(dead.messages[0].metadata['azuresb-dead-letter-source']).toBe(queue);
    await waitFor(() => bus.server.store(`${queue}/$deadletterqueue`).stats.completed === 1, 'the dead-letter queue complete');
  });

  test('the lock of a message in flight is renewed: held past its lock duration, it is not delivered twice', async () => {
    const queue = bus.queue({ lockDurationMs: 1500 });
    expect(await send(openSink(`azuresb://${queue}`), [{ body: 'slow work' }])).toEqual([undefined]);
    const { messages, subscription } = collect(source(`azuresb://${queue}`, { env: bus.env }), () => undefined);
    closers.push(async () => subscription.unsubscribe());
    await waitFor(() => messages.length === 1, 'the delivery');
    await sleep(4000);
    expect(messages).toHaveLength(1);
    expect(bus.server.store(queue).stats.lockExpired).toBe(0);
    expect(bus.server.store(queue).stats.renewed).toBeGreaterThanOrEqual(2);
    messages[0].ack();
    await waitFor(() => bus.server.store(queue).stats.completed === 1, 'the complete');
    expect(bus.server.store(queue).lockedCount).toBe(0);
  });
});

describe('azuresb:// message mapping', () => {
  test('metadata, content type, Service Bus properties and the key survive a relay from queue to queue', async () => {
    const from = bus.queue();
    const to = bus.queue();
    const client = rawClient();
    await client.createSender(from).sendMessages({
      body: Buffer.from([1, 2, 3]),
      messageId: 'relay-1',
      contentType: 'application/x-thing',
      subject: 'the subject',
      correlationId: 'corr-1',
      replyTo: 'answers',
      partitionKey: 'p-1',
      applicationProperties: { text: 'hello', count: 5, flag: true, when: new Date(0) },
    });
    const relay = start(source(`azuresb://${from}`, { env: bus.env }), openSink(`azuresb://${to}`), { handleSignals: false });
    closers.push(() => relay.stop());
    const receiver = client.createReceiver(to, { skipParsingBodyAsJson: true });
    const [relayed] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    expect(relayed).toBeDefined();
    expect(Buffer.from(relayed.body as Buffer)).toEqual(Buffer.from([1, 2, 3]));
    expect(relayed.messageId).toBe('relay-1');
    expect(relayed.contentType).toBe('application/x-thing');
    expect(relayed.subject).toBe('the subject');
    expect(relayed.correlationId).toBe('corr-1');
    expect(relayed.replyTo).toBe('answers');
    expect(relayed.partitionKey).toBe('p-1');
    // a foreign producer's typed properties arrive as text; the broker's own counters are not copied over
    expect(relayed.applicationProperties).toEqual({ text: 'hello', count: '5', flag: 'true', when: '1970-01-01T00:00:00.000Z' });
    await receiver.completeMessage(relayed);
  });

  test('key_as=sessionId puts the key in the session id; ids longer than Service Bus allows survive in a property', async () => {
    const queue = bus.queue();
    const longId = `long-${'x'.repeat(200)}`;
    expect(await send(openSink(`azuresb://${queue}?key_as=sessionId`), [{ body: 'keyed', id: longId, key: 'customer-7' }])).toEqual([
      undefined,
    ]);
    const raw = rawClient().createReceiver(queue, { skipParsingBodyAsJson: true });
    const [received] = await raw.peekMessages(1);
    expect(received.sessionId).toBe('customer-7');
    expect(received.partitionKey).toBeUndefined();
    const { messages, subscription } = collect(source(`azuresb://${queue}`, { env: bus.env }));
    closers.push(async () => subscription.unsubscribe());
    await waitFor(() => messages.length === 1, 'the message');
    expect(messages[0].id).toBe(longId);
    expect(messages[0].key).toBe('customer-7');
    expect(messages[0].metadata['wasm-pipes-message-id']).toBeUndefined();
  });

  test('a message larger than the entity accepts fails permanently; the rest of its batch is delivered', async () => {
    const queue = bus.queue();
    const target = openSink(`azuresb://${queue}`);
    const outcomes = await send(target, [{ body: 'small-1' }, { body: Buffer.alloc(300 * 1024, 1), id: 'too-big' }, { body: 'small-2' }]);
    expect(outcomes[0]).toBeUndefined();
    expect(outcomes[1]).toBeInstanceOf(PermanentError);
    expect(outcomes[1]?.message).toContain('too-big');
    expect(outcomes[1]?.message).toMatch(/larger than the \d+ bytes/);
    expect(outcomes[2]).toBeUndefined();
    expect(bus.server.store(queue).activeCount).toBe(2);
  });
});

describe('azuresb:// failures', () => {
  test('a missing queue: the source fails to start and the sink fails each write, naming the scheme, host and entity', async () => {
    const running = start(source('azuresb://no-such-queue', { env: bus.env }), sink(`mem://${uniqueName('unused')}`), {
      handleSignals: false,
    });
    const failure = await running.started.then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    await running.stop().catch(() => undefined);
    expect(failure).toBeInstanceOf(ConnectorError);
    expect(failure?.message).toContain('azuresb');
    expect(failure?.message).toContain(`127.0.0.1:${bus.server.port}`);
    expect(failure?.message).toContain('no-such-queue');
    expect((failure as ConnectorError).retryable).toBe(false);

    const [outcome] = await send(openSink('azuresb://no-such-queue'), [{ body: 'lost?' }]);
    expect(outcome).toBeInstanceOf(ConnectorError);
    expect(outcome?.message).toContain('no-such-queue');
  });

  test('a wrong key is refused at start, not retried forever', async () => {
    const queue = bus.queue();
    const env = { SERVICEBUS_CONNECTION_STRING: bus.server.connectionString('not-the-key') };
    const running = start(source(`azuresb://${queue}`, { env }), sink(`mem://${uniqueName('unused')}`), { handleSignals: false });
    const failure = await running.started.then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    await running.stop().catch(() => undefined);
    expect(failure).toBeInstanceOf(ConnectorError);
    expect(failure?.message).toMatch(/signature|unauthori/i);
  });

  test('the connection drops mid-stream: source and sink reconnect, ready goes false and back, every message arrives', async () => {
    // a short lock: a settlement lost in the cut brings its message back sooner
    const from = bus.queue({ lockDurationMs: 4000 });
    const to = bus.queue();
    const count = 300;
    expect(
      (
        await send(
          openSink(`azuresb://${from}`),
          Array.from({ length: count }, (_, i) => ({ body: `m-${i}`, id: `m-${i}` })),
        )
      ).every((error) => error === undefined),
    ).toBe(true);
    const driver = new AzureSbSource(sourceConfig(parseEndpointUri(`azuresb://${from}`, 'SOURCE_URI'), bus.env, 120_000), 5, true);
    const out = sink(`azuresb://${to}`, { env: bus.env });
    const relay = start(
      createSource('relay', () => driver, { maxInFlight: 20 }, driver),
      out,
      { handleSignals: false },
    );
    closers.push(() => out.close());
    closers.push(() => relay.stop());
    await relay.started;
    expect(driver.ready).toBe(true);
    await waitFor(() => bus.server.store(to).activeCount >= 50, 'the relay to start');
    bus.server.dropConnections(1500);
    await waitFor(() => !driver.ready, 'the source to notice', 5000);
    // at least once: a settlement lost in the cut brings its message back when the lock expires (a duplicate)
    const relayedIds = (): Set<string> =>
      new Set(
        bus.server
          .store(to)
          .messages()
          .map((message) => String(message.sections.message_id)),
      );
    await waitFor(() => relayedIds().size === count, `all ${count} messages relayed`, 30_000);
    await waitFor(() => driver.ready && out.ready, 'ready again', 10_000);
    for (let i = 0; i < count; i++) expect(relayedIds().has(`m-${i}`)).toBe(true);
    await waitFor(
      () => bus.server.store(from).activeCount === 0 && bus.server.store(from).lockedCount === 0,
      'the source queue to empty',
      15_000,
    );
  });
});

describe('azuresb:// configuration', () => {
  const env = { SERVICEBUS_CONNECTION_STRING: 'Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v' };

  test('every parameter is declared with a description and a default, and docs/connectors/azuresb.md names each', () => {
    const page = connectorPage('azuresb');
    const definition = lookupScheme('azuresb', 'SOURCE_URI');
    expect(paramNames(definition.sourceParams)).toEqual(['subscription', 'subqueue', 'max_lock_renewal']);
    expect(paramNames(definition.sinkParams)).toEqual(['key_as']);
    expectDeclaredAndNamed([...(definition.sourceParams ?? []), ...(definition.sinkParams ?? [])], page);
  });

  test('no credentials: names both variables with an example', () => {
    expect(() => source('azuresb://orders', { env: {}, variable: 'SOURCE_URI' })).toThrow(
      /SERVICEBUS_CONNECTION_STRING.*Endpoint=sb:\/\/.*AZURE_SERVICEBUS_HOSTNAME/,
    );
  });

  test('a connection string without a key, or scoped to another entity, is a ConfigError that says how to fix it', () => {
    expect(() => sink('azuresb://orders', { env: { SERVICEBUS_CONNECTION_STRING: 'Endpoint=sb://x.servicebus.windows.net/' } })).toThrow(
      /SharedAccessKeyName and SharedAccessKey/,
    );
    expect(() => sink('azuresb://orders', { env: { SERVICEBUS_CONNECTION_STRING: 'SharedAccessKeyName=k;SharedAccessKey=v' } })).toThrow(
      /Endpoint=sb:\/\//,
    );
    expect(() =>
      sink('azuresb://orders', { env: { SERVICEBUS_CONNECTION_STRING: `${env.SERVICEBUS_CONNECTION_STRING};EntityPath=invoices` } }),
    ).toThrow(/EntityPath=invoices.*'orders'/);
  });

  test('bad URIs: no entity, a bad sub-queue, a bad key_as, a bad host name', () => {
    expect(() => source('azuresb://', { env, variable: 'SOURCE_URI' })).toThrow(
      /SOURCE_URI: azuresb:\/\/ needs a queue or topic name, for example/,
    );
    expect(() => source('azuresb://orders?subqueue=later', { env })).toThrow(/subqueue=deadletter/);
    expect(() => sink('azuresb://orders?key_as=routing', { env })).toThrow(/key_as=partitionKey.*key_as=sessionId/);
    expect(() => sink('azuresb://orders', { env: { AZURE_SERVICEBUS_HOSTNAME: 'https://x/y' } })).toThrow(
      /AZURE_SERVICEBUS_HOSTNAME.*servicebus\.windows\.net/,
    );
  });

  test('the namespace host name with the default Azure credential is accepted without connecting', () => {
    const opened = sink('azuresb://orders', { env: { AZURE_SERVICEBUS_HOSTNAME: 'mynamespace.servicebus.windows.net' } });
    expect(opened.name).toBe('azuresb://orders');
    return opened.close();
  });
});
