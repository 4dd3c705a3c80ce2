// AMQP basic properties and headers <-> message metadata, both ways: the source reads them, the sink writes them.
import type { Message as AmqpMessage, Options } from 'amqplib';
import type { Message } from '../../message';

/** AMQP basic properties <-> metadata names (lower-case, HTTP style). */
const PROPERTY_METADATA = {
  contentType: 'content-type',
  contentEncoding: 'content-encoding',
  correlationId: 'correlation-id',
  replyTo: 'reply-to',
  expiration: 'expiration',
  type: 'type',
  appId: 'app-id',
  userId: 'user-id',
  priority: 'priority',
  timestamp: 'timestamp',
} as const;
type MappedProperty = keyof typeof PROPERTY_METADATA;
const MAPPED_PROPERTIES = Object.keys(PROPERTY_METADATA) as MappedProperty[];
const METADATA_PROPERTY = new Map<string, MappedProperty>(
  Object.entries(PROPERTY_METADATA).map(([property, name]) => [name, property as MappedProperty]),
);
/** Broker-managed headers that are not the message's own. */
const BROKER_HEADERS = new Set([
  'x-death',
  'x-delivery-count',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
]);

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/** Metadata from a delivery's properties and headers. */
export function propertiesToMetadata(message: AmqpMessage): Record<string, string> {
  const metadata: Record<string, string> = {};
  const properties = message.properties;
  const headers = properties.headers;
  if (headers !== undefined) {
    for (const name in headers) {
      if (BROKER_HEADERS.has(name.toLowerCase())) continue;
      const text = headerText(headers[name]);
      if (text !== undefined) metadata[name] = text;
    }
  }
  for (const property of MAPPED_PROPERTIES) {
    const text = headerText(properties[property]);
    if (text !== undefined) metadata[PROPERTY_METADATA[property]] = text;
  }
  return metadata;
}

/** Publish options from a message: mapped properties, the rest as headers, the id as message-id. */
export function metadataToProperties(message: Message, persistent: boolean): Options.Publish {
  const options: Options.Publish = { messageId: message.id, persistent, mandatory: true };
  const headers: Record<string, string> = {};
  const metadata = message.metadata;
  for (const name in metadata) {
    const value = metadata[name];
    const property = METADATA_PROPERTY.get(name.toLowerCase());
    if (property === undefined) {
      headers[name] = value;
      continue;
    }
    switch (property) {
      case 'userId':
        // the broker rejects a user-id that is not the publishing connection's own
        break;
      case 'priority':
      case 'timestamp': {
        const number = Number(value);
        if (Number.isInteger(number) && number >= 0) options[property] = number;
        break;
      }
      default:
        options[property] = value;
    }
  }
  options.headers = headers;
  return options;
}
