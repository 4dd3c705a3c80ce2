// Configuration of azuresb:// endpoints: the entity from the URI, the credentials from the environment, and the
// mapping between wasm-pipes messages and Service Bus messages. Validation only: nothing here connects.
import { requireClientPackages, type EndpointUri } from '../../registry';
import { ConfigError } from '../../errors';
import { parseDuration } from '../../config';

export const SCHEME = 'azuresb';

/** Service Bus caps message ids, session ids and partition keys at 128 characters. */
export const MAX_ID_LENGTH = 128;

/** Where a message id longer than Service Bus allows travels, so that it survives the round trip. */
export const LONG_ID_PROPERTY = 'wasm-pipes-message-id';

/** Metadata names for Service Bus's own message properties that a sink can set. */
export const SYSTEM_METADATA = {
  subject: 'azuresb-subject',
  correlationId: 'azuresb-correlation-id',
  replyTo: 'azuresb-reply-to',
  to: 'azuresb-to',
  replyToSessionId: 'azuresb-reply-to-session-id',
} as const;

/** Metadata a source adds for information (what the broker says); a sink never writes these back. */
export const READ_ONLY_METADATA = {
  sequenceNumber: 'azuresb-sequence-number',
  enqueuedTime: 'azuresb-enqueued-time',
  deliveryCount: 'azuresb-delivery-count',
  deadLetterSource: 'azuresb-dead-letter-source',
} as const;

const CONNECTION_STRING_EXAMPLE =
  'Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=<key>';

/** How a driver authenticates: a connection string, or a namespace host name with the default Azure credential. */
export type Credentials = { kind: 'connectionString'; connectionString: string; host: string } | { kind: 'credential'; host: string };

export interface EntityConfig {
  /** The queue or topic. */
  entity: string;
  /** The subscription, for a topic source. */
  subscription?: string;
  credentials: Credentials;
}

export interface SourceConfig extends EntityConfig {
  subQueue?: 'deadLetter' | 'transferDeadLetter';
  /** How long the SDK keeps renewing the lock of a message still in flight. */
  maxLockRenewalMs: number;
}

export interface SinkConfig extends EntityConfig {
  /** Which Service Bus property the message key goes to. */
  keyAs: 'partitionKey' | 'sessionId';
}

const ENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._\-/~]*$/;

/** Parses `Key=value;Key=value`; keys are case-insensitive as in the SDK. */
function parseConnectionString(value: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of value.split(';')) {
    const equals = part.indexOf('=');
    if (equals <= 0) continue;
    fields.set(part.slice(0, equals).trim().toLowerCase(), part.slice(equals + 1).trim());
  }
  return fields;
}

function credentials(env: NodeJS.ProcessEnv, entity: string): Credentials {
  const connectionString = env.SERVICEBUS_CONNECTION_STRING?.trim();
  if (connectionString) {
    const fields = parseConnectionString(connectionString);
    const endpoint = fields.get('endpoint');
    if (endpoint === undefined || !/^sb:\/\/[^/;]+/i.test(endpoint)) {
      throw new ConfigError(
        `the connection string has no Endpoint=sb://...; copy it from the Azure portal, for example ${CONNECTION_STRING_EXAMPLE}`,
        {
          variable: 'SERVICEBUS_CONNECTION_STRING',
        },
      );
    }
    const hasKey = fields.has('sharedaccesskeyname') && fields.has('sharedaccesskey');
    if (!hasKey && !fields.has('sharedaccesssignature')) {
      throw new ConfigError(
        `the connection string needs SharedAccessKeyName and SharedAccessKey (or SharedAccessSignature), for example ${CONNECTION_STRING_EXAMPLE}`,
        { variable: 'SERVICEBUS_CONNECTION_STRING' },
      );
    }
    const entityPath = fields.get('entitypath');
    if (entityPath !== undefined && entityPath.toLowerCase() !== entity.toLowerCase()) {
      throw new ConfigError(
        `the connection string is scoped to EntityPath=${entityPath} but the URI names '${entity}'; use a namespace-level connection string or azuresb://${entityPath}`,
        { variable: 'SERVICEBUS_CONNECTION_STRING' },
      );
    }
    const host = /^sb:\/\/([^/;]+)/i.exec(endpoint)?.[1] ?? endpoint;
    return { kind: 'connectionString', connectionString, host };
  }
  const hostName = env.AZURE_SERVICEBUS_HOSTNAME?.trim();
  if (hostName) {
    const host = hostName.replace(/^sb:\/\//i, '').replace(/\/+$/, '');
    if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(host)) {
      throw new ConfigError(`'${hostName}' is not a host name; use the namespace's, for example mynamespace.servicebus.windows.net`, {
        variable: 'AZURE_SERVICEBUS_HOSTNAME',
      });
    }
    // the identity library (an optional peer dependency) signs in without a connection string
    requireClientPackages(['@azure/identity'], 'azuresb:// with AZURE_SERVICEBUS_HOSTNAME (Azure AD sign-in)', 'AZURE_SERVICEBUS_HOSTNAME');
    return { kind: 'credential', host };
  }
  throw new ConfigError(
    `azuresb:// needs SERVICEBUS_CONNECTION_STRING (for example ${CONNECTION_STRING_EXAMPLE}), or AZURE_SERVICEBUS_HOSTNAME ` +
      '(for example mynamespace.servicebus.windows.net, signed in with the default Azure credential)',
    { variable: 'SERVICEBUS_CONNECTION_STRING' },
  );
}

function entityName(uri: EndpointUri, role: 'source' | 'sink'): string {
  const name = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/^\/+|\/+$/g, '');
  const example = role === 'source' ? 'azuresb://orders or azuresb://events?subscription=audit' : 'azuresb://orders or azuresb://events';
  if (name === '') throw new ConfigError(`azuresb:// needs a queue or topic name, for example ${example}`, { variable: uri.variable });
  if (name.length > 260 || !ENTITY_NAME.test(name)) {
    throw new ConfigError(
      `'${name}' is not a Service Bus queue or topic name (letters, digits, . - _ / ~; at most 260), for example ${example}`,
      {
        variable: uri.variable,
      },
    );
  }
  return name;
}

export function sourceConfig(uri: EndpointUri, env: NodeJS.ProcessEnv, ackTimeoutMs: number): SourceConfig {
  const entity = entityName(uri, 'source');
  const subscription = uri.params.get('subscription');
  if (subscription !== undefined && (subscription === '' || !ENTITY_NAME.test(subscription) || subscription.includes('/'))) {
    throw new ConfigError(`'${subscription}' is not a subscription name; for example azuresb://${entity}?subscription=audit`, {
      variable: uri.variable,
    });
  }
  const subQueueParam = uri.params.get('subqueue');
  let subQueue: SourceConfig['subQueue'];
  if (subQueueParam !== undefined) {
    const normalized = subQueueParam.toLowerCase().replace(/[-_]/g, '');
    if (normalized === 'deadletter') subQueue = 'deadLetter';
    else if (normalized === 'transferdeadletter') subQueue = 'transferDeadLetter';
    else {
      throw new ConfigError(`subqueue='${subQueueParam}' is not a sub-queue; use subqueue=deadletter (or transferdeadletter)`, {
        variable: uri.variable,
      });
    }
  }
  const renewal = uri.params.get('max_lock_renewal');
  // a message may stay in flight until ackTimeout nacks it: keep its lock that long, and a minute more
  const maxLockRenewalMs =
    renewal !== undefined
      ? parseDuration(renewal, `${uri.variable} max_lock_renewal`)
      : ackTimeoutMs > 0
        ? ackTimeoutMs + 60_000
        : 30 * 24 * 3_600_000;
  return { entity, subscription, subQueue, maxLockRenewalMs, credentials: credentials(env, entity) };
}

export function sinkConfig(uri: EndpointUri, env: NodeJS.ProcessEnv): SinkConfig {
  const entity = entityName(uri, 'sink');
  const keyAsParam = uri.params.get('key_as');
  let keyAs: SinkConfig['keyAs'] = 'partitionKey';
  if (keyAsParam !== undefined) {
    const normalized = keyAsParam.toLowerCase().replace(/[-_]/g, '');
    if (normalized === 'sessionid' || normalized === 'session') keyAs = 'sessionId';
    else if (normalized !== 'partitionkey' && normalized !== 'partition') {
      throw new ConfigError(`key_as='${keyAsParam}' is not supported; use key_as=partitionKey (the default) or key_as=sessionId`, {
        variable: uri.variable,
      });
    }
  }
  return { entity, keyAs, credentials: credentials(env, entity) };
}
