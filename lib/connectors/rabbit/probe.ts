// `wasm-pipes check` for rabbit://: connects to RABBIT_SERVER_URL (one attempt) and declares passively what the
// endpoint uses: the queue of a source, the exchange of a sink (or, through the default exchange, the queue named by
// ?routing_key=). A passive declare only asks: nothing is created, consumed or published.
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import type { EndpointUri } from '../../registry';
import { rabbitUrl } from './index';
import { amqpCode, AMQP_REPLY, rabbitHost } from './link';

function nameOf(uri: EndpointUri): string {
  return decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
}

async function connectOnce(env: NodeJS.ProcessEnv): Promise<{ connection: ChannelModel; host: string }> {
  const url = rabbitUrl(env);
  const host = rabbitHost(url);
  try {
    // amqplib keeps unhandled connection errors to itself once a handler is there
    const connection = await amqp.connect(url, { timeout: 10_000 });
    connection.on('error', () => undefined);
    return { connection, host };
  } catch (error) {
    const code = amqpCode(error);
    if (code === AMQP_REPLY.ACCESS_REFUSED || /ACCESS_REFUSED|403/.test((error as Error).message)) {
      throw new Error(
        `RabbitMQ at ${host} refused the user and password of RABBIT_SERVER_URL (or the vhost is not theirs); fix RABBIT_SERVER_URL`,
        { cause: error },
      );
    }
    if (/NOT_ALLOWED|530/.test((error as Error).message))
      throw new Error(`RabbitMQ at ${host} has no such vhost for this user; fix the vhost in RABBIT_SERVER_URL`, { cause: error });
    throw new Error(`cannot connect to RabbitMQ at ${host} (${(error as Error).message}); start the broker, or fix RABBIT_SERVER_URL`, {
      cause: error,
    });
  }
}

/** Declares `name` passively on a channel of its own (a 404 closes the channel it happens on). */
async function check(connection: ChannelModel, kind: 'queue' | 'exchange', name: string): Promise<string> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    if (kind === 'exchange') {
      await channel.checkExchange(name);
      return `exchange '${name}' exists`;
    }
    const queue = await channel.checkQueue(name);
    return `queue '${name}' exists (${queue.messageCount} messages, ${queue.consumerCount} consumers)`;
  } catch (error) {
    const code = amqpCode(error);
    if (code === AMQP_REPLY.NOT_FOUND) {
      throw new Error(
        kind === 'queue'
          ? `queue '${name}' does not exist; declare it first, for example: rabbitmqadmin declare queue name=${name} durable=true`
          : `exchange '${name}' does not exist; declare it (for example: rabbitmqadmin declare exchange name=${name} type=topic), or publish straight to a queue with rabbit://?routing_key=QUEUE`,
        { cause: error },
      );
    }
    if (code === AMQP_REPLY.ACCESS_REFUSED)
      throw new Error(`this user may not use ${kind} '${name}'; grant it the permissions, or use another user`, { cause: error });
    throw error;
  } finally {
    await channel.close().catch(() => undefined);
  }
}

export async function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const { connection, host } = await connectOnce(env);
  try {
    return `RabbitMQ ${host}: ${await check(connection, 'queue', nameOf(uri))}`;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export async function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const exchange = nameOf(uri);
  const { connection, host } = await connectOnce(env);
  try {
    if (exchange !== '') return `RabbitMQ ${host}: ${await check(connection, 'exchange', exchange)}`;
    // the default exchange routes by queue name: a missing queue would return every message
    return `RabbitMQ ${host}: default exchange, ${await check(connection, 'queue', uri.params.get('routing_key') as string)}`;
  } finally {
    await connection.close().catch(() => undefined);
  }
}
