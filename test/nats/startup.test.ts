// Start-up of the bin with NATS sinks: a server out of reach stops the start after NATS_CONNECT_TIMEOUT (exit 1), for a
// sink or a dead letter as for a source, with the reason logged at error once; a JetStream sink whose subject no stream
// captures stops it too; refused credentials are told apart from a server that is down.
import type { NatsConnection } from '@nats-io/transport-node';
import { httpSourceOnFreePort, logRecords, runBinToEnd } from '../helpers/bin';
import { freePort } from '../helpers/wait';
import { natsConnection, jetstreamManager, uniqueSubject, NATS_URL, PrivateNatsServer } from './helpers';

const ERROR = 50;
const FATAL = 60;

let connection: NatsConnection;

beforeAll(async () => {
  connection = await natsConnection();
  await jetstreamManager(connection); // JetStream is up
});

afterAll(async () => {
  await connection.close();
});

test.each([
  ['a core NATS sink', 'SINK_URI', 'nats://out.events'],
  ['a JetStream sink', 'SINK_URI', 'nats://out.events?jetstream=true'],
  ['a NATS dead letter', 'DEAD_LETTER_URI', 'nats://dead.events'],
])(
  '%s on a server out of reach stops the start after NATS_CONNECT_TIMEOUT: exit 1, the reason at error once',
  async (_name, variable, uri) => {
    const port = await freePort();
    const run = await runBinToEnd({
      SOURCE_URI: await httpSourceOnFreePort(),
      SINK_URI: 'stdout://',
      [variable]: uri,
      NATS_SERVER_URL: `127.0.0.1:${port}`,
      NATS_CONNECT_TIMEOUT: '1s',
    });
    expect(run.status).toBe(1);
    const reason = `nats (127.0.0.1:${port}): cannot connect (connection refused) within NATS_CONNECT_TIMEOUT (1000 ms)`;
    const lines = logRecords(run.stderr);
    expect(lines.filter((line) => line.level === ERROR && line.msg.includes(reason))).toHaveLength(1);
    expect(lines.find((line) => line.level === FATAL)?.msg).toContain(`could not start: ${reason}`);
    expect(run.stderr).not.toContain('wasm-pipes started');
  },
);

test('a JetStream sink whose subject no stream captures stops the start, saying how to create one', async () => {
  const subject = `test.${uniqueSubject('nostream')}`;
  const run = await runBinToEnd({
    SOURCE_URI: await httpSourceOnFreePort(),
    SINK_URI: `nats://${subject}?jetstream=true`,
    NATS_SERVER_URL: NATS_URL,
  });
  expect(run.status).toBe(1);
  expect(logRecords(run.stderr).find((line) => line.level === FATAL)?.msg).toContain(
    `no JetStream stream captures '${subject}'; create one, for example: nats stream add OUT --subjects '${subject}'`,
  );
});

describe('a server that requires a password', () => {
  const server = new PrivateNatsServer(['--user', 'relay', '--pass', 'right']);

  beforeAll(async () => {
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
  });

  test('refused credentials stop the start at once (no retrying until the timeout), naming the variables to check', async () => {
    const began = Date.now();
    const run = await runBinToEnd({
      SOURCE_URI: await httpSourceOnFreePort(),
      SINK_URI: 'nats://out.events',
      NATS_SERVER_URL: server.url,
      NATS_USER: 'relay',
      NATS_PASSWORD: 'wrong',
      NATS_CONNECT_TIMEOUT: '20s',
    });
    expect(run.status).toBe(1);
    // well before NATS_CONNECT_TIMEOUT: retrying the same credentials cannot help
    expect(Date.now() - began).toBeLessThan(15_000);
    const errors = logRecords(run.stderr).filter((line) => line.level === ERROR);
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toContain('the server refused the credentials (Authorization Violation); check NATS_USER/NATS_PASSWORD');
  });
});
