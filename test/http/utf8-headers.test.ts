// The bin, as a user runs it: UTF-8 header values sent to the webhook (as curl sends `-H 'X-City: café € 日本'`)
// reach stdout:// and the NATS headers as the same text, not as Latin-1 read UTF-8 bytes (issue 19 item 12).
import { connect, type NatsConnection, type Msg } from '@nats-io/transport-node';
import { BinProcess } from '../helpers/bin';
import { freePort, uniqueName, waitFor } from '../helpers/wait';
import { rawHttpStatus } from '../helpers/rawHttp';

const TEXT = 'café € 日本';

/** POSTs `body` with `headerLines` written as raw bytes; resolves with the status line's code. */
function rawPost(port: number, headerLines: Buffer, body: string): Promise<number> {
  const head = `POST /events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  return rawHttpStatus(port, Buffer.concat([Buffer.from(head), headerLines, Buffer.from(`\r\n${body}`)]));
}

describe('HTTP source in the bin: UTF-8 header values', () => {
  let bin: BinProcess | undefined;
  let nats: NatsConnection | undefined;

  afterEach(async () => {
    await bin?.kill();
    await nats?.close();
  });

  test(`'${TEXT}' in a request header reaches stdout:// and the NATS headers unchanged`, async () => {
    const subject = uniqueName('utf8-headers').replace(/[^a-zA-Z0-9]+/g, '_');
    nats = await connect({ servers: '127.0.0.1:4222', name: 'wasm-pipes tests' });
    const received: Msg[] = [];
    nats.subscribe(subject, { callback: (_error, msg) => void received.push(msg) });
    await nats.flush();
    const port = await freePort();
    bin = new BinProcess({
      SOURCE_URI: `http://127.0.0.1:${port}/events`,
      SINK_URI: `stdout://,nats://${subject}`,
      NATS_SERVER_URL: '127.0.0.1:4222',
    });
    await bin.started();

    const status = await rawPost(port, Buffer.from(`x-city: ${TEXT}\r\nx-message-key: ключ\r\n`, 'utf8'), '{"order":1}');
    expect(status).toBe(200);

    const line = bin.stdout.split('\n').find((row) => row.includes('"order'));
    const written = JSON.parse(line ?? '{}') as { key?: string; metadata?: Record<string, string> };
    expect(written.metadata?.['x-city']).toBe(TEXT);
    expect(written.key).toBe('ключ');
    await waitFor(() => received.length === 1, 'the NATS message');
    expect(received[0].headers?.get('x-city')).toBe(TEXT);
  });
});
