// The AWS connector's mapping of messages to bodies and attributes, and its small helpers, without a server.
import { Message } from '../../lib/message';
import { PermanentError } from '../../lib/errors';
import {
  GroupSequencer,
  decodeMessage,
  encodeMessage,
  fifoToken,
  isCarriableText,
  isDefinitive,
  parseSnsEnvelope,
  splitRequests,
  type EncodeOptions,
  type EncodedMessage,
} from '../../lib/connectors/aws/common';
import { sleep } from '../helpers/wait';

const OPTIONS: EncodeOptions = {
  scheme: 'awssqs',
  host: 'sqs.us-east-2.amazonaws.com',
  maxSize: 256 * 1024,
  service: 'SQS',
  keyAsAttribute: true,
  idAsAttribute: true,
};

function encoded(init: { body: Buffer | string; metadata?: Record<string, string>; key?: string; id?: string }): EncodedMessage {
  const result = encodeMessage(new Message(init), OPTIONS);
  if (result instanceof PermanentError) throw result;
  return result;
}

describe('bodies', () => {
  test('text SQS accepts goes as it is; anything else as base64', () => {
    expect(isCarriableText(Buffer.from('héllo, wörld 🎉\n\t'))).toBe(true);
    expect(isCarriableText(Buffer.from([0xc3, 0x28]))).toBe(false); // not UTF-8
    expect(isCarriableText(Buffer.from('a\u0000b'))).toBe(false); // a control character SQS refuses
    expect(isCarriableText(Buffer.from('\uFFFE'))).toBe(false);
    expect(isCarriableText(Buffer.alloc(0))).toBe(false);
  });

  test('a binary body round-trips through base64 and the base64encoded attribute', () => {
    const body = Buffer.from([0, 159, 146, 150, 255]);
    const message = encoded({ id: 'b', body });
    expect(message.body).toBe(body.toString('base64'));
    expect(message.attributes.base64encoded).toEqual({ DataType: 'String', StringValue: 'true' });
    const back = decodeMessage(message.body, message.attributes, 'fallback');
    expect(Buffer.compare(back.body as Buffer, body)).toBe(0);
    expect(back.id).toBe('b');
    expect(back.metadata).toEqual({});
  });

  test('an empty body is a permanent failure', () => {
    expect(encodeMessage(new Message({ body: '' }), OPTIONS)).toBeInstanceOf(PermanentError);
  });

  test('the size counts body, attribute names, types and values, as SQS does', () => {
    const message = encoded({ id: 'i', body: 'abc', metadata: { k: 'vv' } });
    // body 3 + (k + String + vv) 9 + (x-message-id + String + i) 19
    expect(message.size).toBe(3 + 9 + 19);
  });
});

describe('attributes', () => {
  test('metadata first, then the key and the id while there is room', () => {
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`m${i}`, `v${i}`]));
    const withNine = encoded({ id: 'id-1', key: 'key-1', body: 'x', metadata: nine });
    expect(Object.keys(withNine.attributes)).toHaveLength(10);
    expect(withNine.attributes['x-message-key']).toBeDefined();
    expect(withNine.attributes['x-message-id']).toBeUndefined();
    const withBinary = encodeMessage(new Message({ body: Buffer.from([0xff]), metadata: { ...nine, m9: 'v9' } }), OPTIONS);
    expect(withBinary).toBeInstanceOf(PermanentError);
    expect((withBinary as Error).message).toMatch(/10 metadata entries .* \(9 with a binary body, which takes 'base64encoded'\)/);
  });

  test('empty values are left out; our own names in metadata are replaced by the message id and key', () => {
    const message = encoded({ id: 'real', key: 'k', body: 'x', metadata: { empty: '', 'x-message-id': 'stale', 'x-message-key': 'old' } });
    expect(message.attributes).toEqual({
      'x-message-key': { DataType: 'String', StringValue: 'k' },
      'x-message-id': { DataType: 'String', StringValue: 'real' },
    });
  });

  test('names SQS reserves or refuses are permanent failures naming the metadata', () => {
    for (const name of ['AWS.trace', 'amazon.x', '.lead', 'trail.', 'dou..ble', 'sp ace', 'x'.repeat(257)]) {
      const result = encodeMessage(new Message({ body: 'x', metadata: { [name]: 'v' } }), OPTIONS);
      expect(result).toBeInstanceOf(PermanentError);
      expect((result as Error).message).toContain(`'${name}'`);
    }
  });

  test('SQS attribute values of every type come back as metadata (binary as base64)', () => {
    const init = decodeMessage(
      'b',
      { s: { StringValue: 'text' }, n: { StringValue: '1.5' }, bin: { BinaryValue: Uint8Array.from([1, 2]) } },
      'sqs-id',
    );
    expect(init.metadata).toEqual({ s: 'text', n: '1.5', bin: 'AQI=' });
    expect(init.id).toBe('sqs-id');
  });
});

describe('SNS envelopes', () => {
  test('only a notification is an envelope', () => {
    expect(parseSnsEnvelope('{"Type":"Notification"}')).toBeUndefined();
    expect(parseSnsEnvelope(JSON.stringify({ Type: 'Other', MessageId: 'm', TopicArn: 'arn', Message: 'x' }))).toBeUndefined();
    expect(parseSnsEnvelope(`{"Type":"Notification","TopicArn": broken`.padEnd(60, ' '))).toBeUndefined();
    const envelope = parseSnsEnvelope(
      JSON.stringify({ Type: 'Notification', MessageId: 'm', TopicArn: 'arn:aws:sns:us-east-1:1:t', Message: 'x' }),
    );
    expect(envelope?.Message).toBe('x');
  });
});

describe('helpers', () => {
  test('FIFO group and deduplication ids: kept when valid, hashed when not', () => {
    expect(fifoToken('order-17')).toBe('order-17');
    expect(fifoToken('has space')).toMatch(/^[0-9a-f]{64}$/);
    expect(fifoToken('x'.repeat(129))).toMatch(/^[0-9a-f]{64}$/);
    expect(fifoToken('x'.repeat(129))).toBe(fifoToken('x'.repeat(129)));
  });

  test('requests are split at 10 entries and at the byte limit', () => {
    const sizes = [100, 100, 100, 300, 50];
    expect(
      splitRequests(
        sizes.map((size) => ({ size })),
        10,
        400,
      ).map((request) => request.map((entry) => entry.size)),
    ).toEqual([
      [100, 100, 100],
      [300, 50],
    ]);
    expect(
      splitRequests(
        Array.from({ length: 25 }, () => ({ size: 1 })),
        10,
        1000,
      ).map((request) => request.length),
    ).toEqual([10, 10, 5]);
  });

  test('writes of one group run in order; other groups do not wait', async () => {
    const sequencer = new GroupSequencer();
    const events: string[] = [];
    const slow = sequencer.run(['a'], async () => {
      await sleep(80);
      events.push('a1');
    });
    const next = sequencer.run(['a', 'b'], async () => {
      events.push('a2');
    });
    const other = sequencer.run(['c'], async () => {
      events.push('c1');
    });
    await Promise.all([slow, next, other]);
    expect(events).toEqual(['c1', 'a1', 'a2']);
  });

  test('errors that will not go away by themselves are told apart from transient ones', () => {
    expect(isDefinitive({ name: 'QueueDoesNotExist', $fault: 'client', $metadata: { httpStatusCode: 400 } })).toBe(true);
    expect(isDefinitive({ name: 'CredentialsProviderError', message: 'Could not load credentials' })).toBe(true);
    // classified by the SDK's fields, never the text: a missing region is caught at start-up (checkRegion) instead
    expect(isDefinitive({ name: 'Error', message: 'Region is missing' })).toBe(false);
    expect(isDefinitive({ name: 'RequestThrottled', $fault: 'client', $metadata: { httpStatusCode: 403 } })).toBe(false);
    expect(isDefinitive({ name: 'InternalError', $fault: 'server', $metadata: { httpStatusCode: 500 } })).toBe(false);
    expect(isDefinitive({ name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:1' })).toBe(false);
  });
});
