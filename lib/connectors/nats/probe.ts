// `wasm-pipes check` for nats://: connects to NATS_SERVER_URL with the configured credentials (one attempt, no
// retries), and for JetStream finds the stream (?stream=, or the one that captures the subject) and the durable
// consumer; a consumer that does not exist yet is fine (the source creates it). No subscription, no publish.
import { connect, errors } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { EndpointUri } from '../../registry';
import { parseBoolean } from '../../config';
import { natsConnectionOptions, natsServersLabel } from './servers';
import { subjectOf } from './index';

async function connectOnce(env: NodeJS.ProcessEnv): Promise<{ connection: NatsConnection; servers: string }> {
  const options = natsConnectionOptions(env, 'wasm-pipes check');
  const servers = natsServersLabel(options);
  try {
    const connection = await connect({ ...options, reconnect: false, ignoreAuthErrorAbort: false, timeout: 10_000 });
    return { connection, servers };
  } catch (error) {
    if (error instanceof errors.AuthorizationError || /authoriz|authenticat/i.test((error as Error).message)) {
      throw new Error(
        `${servers} refused the credentials (${(error as Error).message}); check NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS`,
        { cause: error },
      );
    }
    throw new Error(`cannot connect to NATS at ${servers} (${(error as Error).message}); start the server, or fix NATS_SERVER_URL`, {
      cause: error,
    });
  }
}

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

/** The stream a JetStream endpoint uses: the one named, else the one that captures the subject. */
async function findStream(
  connection: NatsConnection,
  subject: string,
  named: string | undefined,
): Promise<{ name: string; messages: number }> {
  let manager;
  try {
    manager = await jetstreamManager(connection);
  } catch (error) {
    throw new Error(`JetStream is not available (${(error as Error).message}); start the server with -js, or use a core subject`, {
      cause: error,
    });
  }
  let name = named;
  if (name === undefined) {
    try {
      name = await manager.streams.find(subject);
    } catch (error) {
      throw new Error(
        `no stream captures '${subject}' (${(error as Error).message}); create one, for example: nats stream add ORDERS --subjects '${subject}'`,
        { cause: error },
      );
    }
  }
  try {
    const info = await manager.streams.info(name);
    return { name, messages: info.state.messages };
  } catch (error) {
    if (apiCode(error) === JetStreamApiCodes.StreamNotFound || /not found/i.test((error as Error).message)) {
      throw new Error(`stream '${name}' does not exist; create it first, for example: nats stream add ${name} --subjects '${subject}'`, {
        cause: error,
      });
    }
    throw new Error(`cannot read stream '${name}': ${(error as Error).message}`, { cause: error });
  }
}

function flag(uri: EndpointUri, name: string): boolean {
  const value = uri.params.get(name);
  return value !== undefined && parseBoolean(value.trim(), `${uri.variable} ${name}`);
}

export async function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const subject = subjectOf(uri, true);
  const stream = uri.params.get('stream')?.trim();
  const consumer = uri.params.get('consumer')?.trim();
  const { connection, servers } = await connectOnce(env);
  try {
    if (stream === undefined && consumer === undefined && !flag(uri, 'jetstream'))
      return `NATS ${servers}: connected, subject '${subject}' (core NATS)`;
    const found = await findStream(connection, subject, stream);
    const manager = await jetstreamManager(connection);
    try {
      const info = await manager.consumers.info(found.name, consumer as string);
      return `NATS ${servers}: stream '${found.name}' (${found.messages} messages), consumer '${consumer}' (${info.num_pending} pending, ${info.num_ack_pending} unacked)`;
    } catch (error) {
      if (apiCode(error) === JetStreamApiCodes.ConsumerNotFound || /consumer not found/i.test((error as Error).message)) {
        return `NATS ${servers}: stream '${found.name}' (${found.messages} messages); consumer '${consumer}' does not exist yet: the source creates it at start`;
      }
      throw new Error(`cannot read consumer '${consumer}' of stream '${found.name}': ${(error as Error).message}`, { cause: error });
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export async function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const subject = subjectOf(uri, false);
  const { connection, servers } = await connectOnce(env);
  try {
    if (!flag(uri, 'jetstream')) return `NATS ${servers}: connected, publishes to '${subject}' (core NATS)`;
    const found = await findStream(connection, subject, undefined);
    return `NATS ${servers}: stream '${found.name}' captures '${subject}' (${found.messages} messages)`;
  } finally {
    await connection.close().catch(() => undefined);
  }
}
