// `wasm-pipes check` for azuresb://: with the connector's credentials (SERVICEBUS_CONNECTION_STRING, or the default
// Azure credential on AZURE_SERVICEBUS_HOSTNAME), a source peeks one message of its queue or subscription (a peek takes
// no lock and consumes nothing) and a sink opens its send link (createMessageBatch sends nothing). A missing entity,
// refused credentials and a namespace out of reach are problems.
import { ServiceBusClient, isServiceBusError } from '@azure/service-bus';
import type { ServiceBusClientOptions } from '@azure/service-bus';
import type { EndpointUri } from '../../registry';
import { sinkConfig, sourceConfig, type Credentials } from './config';

/** One attempt, a short wait: check answers now, it does not wait for a namespace to come back. */
const OPTIONS: ServiceBusClientOptions = { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } };

function client(credentials: Credentials): ServiceBusClient {
  if (credentials.kind === 'connectionString') return new ServiceBusClient(credentials.connectionString, OPTIONS);

  const identity = require('@azure/identity') as typeof import('@azure/identity');
  return new ServiceBusClient(credentials.host, new identity.DefaultAzureCredential(), OPTIONS);
}

function problem(error: unknown, entity: string, host: string): Error {
  const code = isServiceBusError(error) ? error.code : (error as { code?: string }).code;
  const reason = (error as Error).message;
  if (code === 'MessagingEntityNotFound')
    return new Error(
      `'${entity}' does not exist in ${host}; create it (az servicebus queue create --name ${entity.split('/')[0]} ...), or fix the URI`,
    );
  if (code === 'UnauthorizedAccess')
    return new Error(
      `${host} refused the credentials for '${entity}' (${reason}); fix SERVICEBUS_CONNECTION_STRING (its key and its rights: Listen for a source, Send for a sink)`,
    );
  if (code === 'MessagingEntityDisabled') return new Error(`'${entity}' is disabled in ${host}; enable it`);
  return new Error(`${host} could not be reached for '${entity}' (${reason}); check the namespace host and the network`);
}

export async function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const config = sourceConfig(uri, env, 0);
  const entity = config.subscription === undefined ? config.entity : `${config.entity}/subscriptions/${config.subscription}`;
  const bus = client(config.credentials);
  try {
    const receiver =
      config.subscription === undefined
        ? bus.createReceiver(config.entity, { receiveMode: 'peekLock' })
        : bus.createReceiver(config.entity, config.subscription, { receiveMode: 'peekLock' });
    const peeked = await receiver.peekMessages(1);
    await receiver.close();
    return `Service Bus ${config.credentials.host}: '${entity}' can be received from (${peeked.length === 0 ? 'empty' : 'has messages'})`;
  } catch (error) {
    throw problem(error, entity, config.credentials.host);
  } finally {
    await bus.close().catch(() => undefined);
  }
}

export async function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const config = sinkConfig(uri, env);
  const bus = client(config.credentials);
  try {
    const sender = bus.createSender(config.entity);
    const batch = await sender.createMessageBatch();
    await sender.close();
    return `Service Bus ${config.credentials.host}: '${config.entity}' can be sent to (messages up to ${batch.maxSizeInBytes} bytes)`;
  } catch (error) {
    throw problem(error, config.entity, config.credentials.host);
  } finally {
    await bus.close().catch(() => undefined);
  }
}
