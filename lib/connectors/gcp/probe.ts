// `wasm-pipes check` for gcppubsub://: reads the subscription (source) or the topic (sink) with GetSubscription /
// GetTopic, with the credentials the connector uses (GOOGLE_APPLICATION_CREDENTIALS or the other Application Default
// Credentials; PUBSUB_EMULATOR_HOST for an emulator). A missing resource or refused credentials are problems.
// Nothing is pulled or published.
import type * as PubSubModule from '@google-cloud/pubsub';
import type { EndpointUri } from '../../registry';
import { parseResourceName } from './pubsub';

/** gRPC status codes the answers are told apart by. */
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

function client(project: string, env: NodeJS.ProcessEnv): { pubsub: PubSubModule.PubSub; host: string } {
  const { PubSub } = require('@google-cloud/pubsub') as typeof PubSubModule;
  const emulator = env.PUBSUB_EMULATOR_HOST?.trim();
  const credentials = env.GOOGLE_APPLICATION_CREDENTIALS?.trim();
  const config: PubSubModule.ClientConfig = { projectId: project };
  if (emulator) config.apiEndpoint = emulator;
  else if (credentials) config.keyFilename = credentials;
  return { pubsub: new PubSub(config), host: emulator || 'pubsub.googleapis.com' };
}

function problem(error: unknown, resource: string, host: string): Error {
  const code = (error as { code?: unknown }).code;
  const reason = (error as Error).message;
  if (code === NOT_FOUND)
    return new Error(
      `${resource} does not exist at ${host}; create it first (gcloud pubsub ${resource.split('/')[2]} create ${resource.split('/')[3]}), or fix the URI`,
    );
  if (code === PERMISSION_DENIED)
    return new Error(`the credentials may not read ${resource} (${reason}); grant them the Pub/Sub roles, or use other credentials`);
  if (code === UNAUTHENTICATED || /default credentials/i.test(reason)) {
    return new Error(
      `no usable credentials for ${host} (${reason}); set GOOGLE_APPLICATION_CREDENTIALS, run gcloud auth application-default login, or set PUBSUB_EMULATOR_HOST`,
    );
  }
  return new Error(`${host} could not be asked about ${resource} (${reason}); is it reachable?`);
}

export async function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const name = parseResourceName(uri, 'subscriptions');
  const { pubsub, host } = client(name.project, env);
  try {
    const [metadata] = await pubsub.subscription(name.path).getMetadata({ timeout: 10_000 });
    return `Pub/Sub ${host}: subscription '${name.id}' of ${String(metadata.topic ?? '?')} (ack deadline ${metadata.ackDeadlineSeconds ?? '?'} s)`;
  } catch (error) {
    throw problem(error, name.path, host);
  } finally {
    await pubsub.close().catch(() => undefined);
  }
}

export async function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const name = parseResourceName(uri, 'topics');
  const { pubsub, host } = client(name.project, env);
  try {
    await pubsub.topic(name.path).getMetadata({ timeout: 10_000 });
    return `Pub/Sub ${host}: topic '${name.id}' exists`;
  } catch (error) {
    throw problem(error, name.path, host);
  } finally {
    await pubsub.close().catch(() => undefined);
  }
}
