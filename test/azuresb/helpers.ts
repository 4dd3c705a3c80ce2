// Shared set-up for the azuresb:// tests: a Service Bus test server per file, unique entities, and small helpers to
// collect what a source delivers.
import type { Observable, Subscription } from 'rxjs';
import type { Message } from '../../lib/message';
import { ServiceBusTestServer, type ServiceBusTestServerOptions } from '../fixtures/servicebus/server';
import { uniqueName } from '../helpers/wait';

export interface TestBus {
  readonly server: ServiceBusTestServer;
  /** The environment connectors read (SERVICEBUS_CONNECTION_STRING of this server). */
  readonly env: NodeJS.ProcessEnv;
  /** A new queue with a unique name. */
  queue(options?: Parameters<ServiceBusTestServer['createQueue']>[1]): string;
  stop(): Promise<void>;
}

export async function startBus(options: ServiceBusTestServerOptions = {}): Promise<TestBus> {
  const server = await ServiceBusTestServer.start(options);
  const created: string[] = [];
  return {
    server,
    env: { SERVICEBUS_CONNECTION_STRING: server.connectionString() },
    queue(queueOptions) {
      const name = uniqueName('sbq');
      server.createQueue(name, queueOptions);
      created.push(name);
      return name;
    },
    async stop() {
      for (const name of created) server.deleteQueue(name);
      await server.stop();
    },
  };
}

export interface Collected {
  readonly messages: Message[];
  readonly subscription: Subscription;
}

/** Subscribes and keeps every message; `onMessage` decides what to do with each (ack, nack, nothing). */
export function collect(
  observable: Observable<Message>,
  onMessage: (message: Message, index: number) => void = (message) => message.ack(),
): Collected {
  const messages: Message[] = [];
  const subscription = observable.subscribe({
    next: (message) => {
      messages.push(message);
      onMessage(message, messages.length - 1);
    },
  });
  return { messages, subscription };
}
