// A stream entry's fields <-> a message. The sink writes the body under `body`, the id under `id`, the key (when
// there is one) under `key`, and each metadata field under its own name; a metadata field that would take one of
// those three names is written as `metadata:<name>`. The source reads the same back; an entry written by another
// program, without a `body` field, becomes a JSON object of all its fields.
import type { Message } from '../../message';
import type { ReceivedMessage } from '../../source';

export const BODY_FIELD = 'body';
export const ID_FIELD = 'id';
export const KEY_FIELD = 'key';
const RESERVED = new Set([BODY_FIELD, ID_FIELD, KEY_FIELD]);
const ESCAPE = 'metadata:';
/** Metadata the source adds: the entry id. Not written back as a field by the sink (it would not be that entry's). */
export const ENTRY_ID_METADATA = 'redis-stream-id';

/** The XADD field list (name, value, name, value...) of a message. */
export function messageFields(message: Message): (string | Buffer)[] {
  const fields: (string | Buffer)[] = [BODY_FIELD, message.body, ID_FIELD, message.id];
  if (message.key !== undefined) fields.push(KEY_FIELD, message.key);
  const metadata = message.metadata;
  for (const name in metadata) {
    if (name === ENTRY_ID_METADATA) continue;
    fields.push(RESERVED.has(name) || name.startsWith(ESCAPE) ? `${ESCAPE}${name}` : name, metadata[name]);
  }
  return fields;
}

/**
 * The message of entry `entryId` of `stream`, from its raw fields (name, value... as Buffers). Without an `id` field,
 * the id is `<stream>/<entry id>`: the same for every delivery of the entry.
 */
export function entryMessage(stream: string, entryId: string, raw: readonly Buffer[], deliveryCount: number): ReceivedMessage {
  const metadata: Record<string, string> = {};
  let body: Buffer | undefined;
  let id: string | undefined;
  let key: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toString('utf8');
    const value = raw[i + 1];
    if (name === BODY_FIELD) body = value;
    else if (name === ID_FIELD) id = value.toString('utf8');
    else if (name === KEY_FIELD) key = value.toString('utf8');
    else metadata[name.startsWith(ESCAPE) ? name.slice(ESCAPE.length) : name] = value.toString('utf8');
  }
  if (body === undefined) {
    // an entry another program wrote (XADD readings * sensor a temp 21): its fields are the message
    const object: Record<string, string> = {};
    for (let i = 0; i + 1 < raw.length; i += 2) object[raw[i].toString('utf8')] = raw[i + 1].toString('utf8');
    return {
      id: `${stream}/${entryId}`,
      body: Buffer.from(JSON.stringify(object)),
      metadata: { [ENTRY_ID_METADATA]: entryId },
      deliveryCount,
    };
  }
  metadata[ENTRY_ID_METADATA] = entryId;
  return { id: id ?? `${stream}/${entryId}`, body, metadata, key, deliveryCount };
}
