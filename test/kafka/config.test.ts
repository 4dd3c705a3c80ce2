// kafka:// configuration errors (no broker needed) and the JoinGroup gate of the source's sockets.
import net from 'node:net';
import type tls from 'node:tls';
import { source, sink } from '../../lib/endpoints';
import { gatedSocketFactory } from '../../lib/connectors/kafka/client';
import { waitFor } from '../helpers/wait';
import { configError } from '../helpers/configError';

const brokers = { KAFKA_BROKERS: '127.0.0.1:9092' };

describe('kafka:// configuration', () => {
  test('KAFKA_BROKERS missing or malformed: names the variable and shows a valid value', () => {
    const missing = configError(() => source('kafka://g?topic=t', { env: {} }));
    expect(missing.variable).toBe('KAFKA_BROKERS');
    expect(missing.message).toContain('KAFKA_BROKERS=127.0.0.1:9092');
    const malformed = configError(() => sink('kafka://t', { env: { KAFKA_BROKERS: 'localhost' } }));
    expect(malformed.message).toContain("'localhost' is not host:port");
  });

  test('a source needs a group and a topic; offset is oldest or newest', () => {
    expect(configError(() => source('kafka://g', { env: brokers })).message).toContain(
      'needs at least one topic, for example kafka://g?topic=my-topic',
    );
    expect(configError(() => source('kafka://?topic=t', { env: brokers })).message).toContain('needs a consumer group');
    expect(configError(() => source('kafka://g?topic=bad/name', { env: brokers })).message).toContain(
      "'bad/name' is not a Kafka topic name",
    );
    expect(configError(() => source('kafka://g?topic=t&offset=first', { env: brokers })).message).toContain('use offset=oldest');
  });

  test('SASL needs a known mechanism and both credentials', () => {
    expect(configError(() => sink('kafka://t', { env: { ...brokers, KAFKA_SASL_MECHANISM: 'gssapi' } })).message).toContain(
      'use one of plain, scram-sha-256, scram-sha-512',
    );
    expect(configError(() => sink('kafka://t', { env: { ...brokers, KAFKA_SASL_MECHANISM: 'plain', KAFKA_USERNAME: 'u' } })).variable).toBe(
      'KAFKA_PASSWORD',
    );
    expect(configError(() => sink('kafka://t', { env: { ...brokers, KAFKA_SSL: 'maybe' } })).variable).toBe('KAFKA_SSL');
  });

  test('valid URIs open without connecting', () => {
    expect(() => source('kafka://g?topic=a&topic=b,c&offset=newest', { env: brokers })).not.toThrow();
    expect(() =>
      sink('kafka://t?key_name=user', {
        env: { ...brokers, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_USERNAME: 'u', KAFKA_PASSWORD: 'p' },
      }).close(),
    ).not.toThrow();
  });
});

describe('the JoinGroup gate', () => {
  /** A Kafka-framed request: size, api key, version, correlation id, payload. */
  function frame(apiKey: number, correlationId: number): Buffer {
    const buffer = Buffer.alloc(16);
    buffer.writeInt32BE(12, 0);
    buffer.writeInt16BE(apiKey, 4);
    buffer.writeInt16BE(1, 6);
    buffer.writeInt32BE(correlationId, 8);
    return buffer;
  }

  test('holds JoinGroup requests while the gate is pending and lets every other request through', async () => {
    const received: number[] = [];
    const server = net.createServer((connection) => {
      let pending = Buffer.alloc(0);
      connection.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 16) {
          received.push(pending.readInt16BE(4));
          pending = pending.subarray(16);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    let open!: () => void;
    let gate: Promise<void> | undefined = new Promise<void>((resolve) => (open = resolve));
    const connected = new Promise<void>((resolve) => {
      const socket = gatedSocketFactory(() => gate)({
        host: '127.0.0.1',
        port,
        ssl: null as unknown as tls.ConnectionOptions,
        onConnect: resolve,
      });
      socket.write(frame(11, 1)); // JoinGroup: held
      socket.write(frame(8, 2)); // OffsetCommit: sent at once
      void waitFor(() => received.length === 1, 'the commit').then(() => {
        expect(received).toEqual([8]);
        gate = undefined;
        open();
      });
      void waitFor(() => received.length === 2, 'the join').then(() => {
        socket.write(frame(11, 3)); // no gate: sent at once
        void waitFor(() => received.length === 3, 'the second join').then(() => socket.destroy());
      });
    });
    await connected;
    await waitFor(() => received.length === 3, 'three requests');
    expect(received).toEqual([8, 11, 11]);
    await new Promise((resolve) => server.close(resolve));
  });
});
