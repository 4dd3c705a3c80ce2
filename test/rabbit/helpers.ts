// Helpers of the RabbitMQ tests: a management channel on the shared broker (127.0.0.1:5672, guest/guest), queues and
// exchanges with unique names (deleted afterwards), and reading what a queue holds.
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { uniqueName } from '../helpers/wait';

export const RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672/';

export interface RabbitAdmin {
  connection: ChannelModel;
  channel: Channel;
  close(): Promise<void>;
}

export async function rabbitAdmin(url = RABBIT_URL): Promise<RabbitAdmin> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  return {
    connection,
    channel,
    close: async () => {
      await channel.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}

export function uniqueQueue(prefix: string): string {
  return uniqueName(`wasm-pipes-${prefix}`);
}

/** Takes every message waiting in `queue` (acking them), as [message-id, body]. */
export async function drainQueue(channel: Channel, queue: string): Promise<{ id: string; body: string }[]> {
  const out: { id: string; body: string }[] = [];
  for (;;) {
    const message = await channel.get(queue, { noAck: true });
    if (message === false) return out;
    out.push({ id: String(message.properties.messageId ?? ''), body: message.content.toString('utf8') });
  }
}
