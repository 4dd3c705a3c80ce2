// An MQTT PUBLISH <-> a message. MQTT v5 user properties are the metadata both ways, the content type property is
// `content-type`, and the id and key travel in the `x-message-id` and `x-message-key` user properties (as the HTTP,
// SQS and Pub/Sub connectors carry them; a sink with ?message_id=false leaves the id out). The source adds `mqtt-topic` (and `mqtt-retain` for a retained message);
// the sink never publishes `mqtt-*` metadata, which describes the delivery it came from.
import type { IPublishPacket, IClientPublishOptions } from 'mqtt';
import type { Message } from '../../message';
import type { ReceivedMessage } from '../../source';

export const ID_PROPERTY = 'x-message-id';
export const KEY_PROPERTY = 'x-message-key';
export const TOPIC_METADATA = 'mqtt-topic';
export const RETAIN_METADATA = 'mqtt-retain';
const CONTENT_TYPE = 'content-type';
const OWN_PREFIX = 'mqtt-';

/**
 * The message of a received PUBLISH. The key is `x-message-key`, else the topic (MQTT keeps order per topic, so a
 * keyed sink keeps it too); without `x-message-id` the runtime gives the message an id of its own.
 */
export function publishToMessage(topic: string, packet: IPublishPacket, deliveryCount: number): ReceivedMessage {
  const metadata: Record<string, string> = {};
  let id: string | undefined;
  let key: string | undefined;
  const properties = packet.properties;
  if (properties !== undefined) {
    const user = properties.userProperties;
    if (user !== undefined) {
      for (const name in user) {
        const raw = user[name];
        // a name given more than once arrives as a list: joined as HTTP joins repeated headers
        const value = Array.isArray(raw) ? raw.join(', ') : String(raw);
        if (name === ID_PROPERTY) id = value;
        else if (name === KEY_PROPERTY) key = value;
        else metadata[name] = value;
      }
    }
    if (properties.contentType !== undefined) metadata[CONTENT_TYPE] = properties.contentType;
  }
  metadata[TOPIC_METADATA] = topic;
  if (packet.retain) metadata[RETAIN_METADATA] = 'true';
  return { id, key: key ?? topic, body: packet.payload, metadata, deliveryCount };
}

/**
 * The publish options of a message: QoS, retain, and (v5) its metadata as user properties, with the id in
 * `x-message-id` unless `sendId` is false. No properties at all when there is nothing to send: mqtt-packet refuses an
 * empty user property list without a word (the PUBLISH is never written and its callback never called).
 */
export function messagePublishOptions(message: Message, qos: 0 | 1, retain: boolean, v5: boolean, sendId = true): IClientPublishOptions {
  if (!v5) return { qos, retain };
  let user: Record<string, string> | undefined;
  if (sendId) user = { [ID_PROPERTY]: message.id };
  const metadata = message.metadata;
  // a key that is only the MQTT topic the message came from is not sent: the receiver's key is then its own topic
  if (message.key !== undefined && message.key !== metadata[TOPIC_METADATA]) (user ??= {})[KEY_PROPERTY] = message.key;
  let contentType: string | undefined;
  for (const name in metadata) {
    if (name.startsWith(OWN_PREFIX)) continue;
    if (name === CONTENT_TYPE) contentType = metadata[name];
    else if (name !== ID_PROPERTY && name !== KEY_PROPERTY) (user ??= {})[name] = metadata[name];
  }
  if (user === undefined) return contentType === undefined ? { qos, retain } : { qos, retain, properties: { contentType } };
  return { qos, retain, properties: contentType === undefined ? { userProperties: user } : { userProperties: user, contentType } };
}
