// Start-up of the bin with a RabbitMQ sink: refused credentials (ACCESS_REFUSED) stop the start at once and reach the
// log at error, once; a broker out of reach stops it after RABBIT_CONNECT_TIMEOUT (exit 1); a missing exchange stops it
// with how to declare it. And a sink written to again and again with refused credentials logs the reason once.
import { sink } from '../../lib/endpoints';
import { httpSourceOnFreePort, logRecords, runBinToEnd } from '../helpers/bin';
import { capturingLogger, freePort } from '../helpers/wait';
import { write } from '../helpers/endpoints';

const ERROR = 50;
const FATAL = 60;
const REFUSED = 'rabbit (127.0.0.1:5672): the broker refused the credentials (Handshake terminated by server: 403 (ACCESS-REFUSED)';

test('refused credentials stop the start (exit 1) and are logged at error once, with ACCESS_REFUSED and what to check', async () => {
  const run = await runBinToEnd({
    SOURCE_URI: await httpSourceOnFreePort(),
    SINK_URI: 'rabbit://?routing_key=orders',
    RABBIT_SERVER_URL: 'amqp://guest:not-the-password@127.0.0.1:5672/',
  });
  expect(run.status).toBe(1);
  const errors = logRecords(run.stderr).filter((line) => line.level === ERROR);
  expect(errors).toHaveLength(1);
  expect(errors[0].msg).toContain(REFUSED);
  expect(errors[0].msg).toContain('ACCESS_REFUSED');
  expect(errors[0].msg).toContain('check the user and password in RABBIT_SERVER_URL');
  expect(logRecords(run.stderr).find((line) => line.level === FATAL)?.msg).toContain(REFUSED);
  expect(run.stderr).not.toContain('not-the-password');
});

test('a broker out of reach stops the start after RABBIT_CONNECT_TIMEOUT (exit 1), for a sink as for a source', async () => {
  const port = await freePort();
  const run = await runBinToEnd({
    SOURCE_URI: await httpSourceOnFreePort(),
    SINK_URI: 'rabbit://?routing_key=orders',
    RABBIT_SERVER_URL: `amqp://guest:guest@127.0.0.1:${port}/`,
    RABBIT_CONNECT_TIMEOUT: '1s',
  });
  expect(run.status).toBe(1);
  const reason = `rabbit (127.0.0.1:${port}): cannot connect (connect ECONNREFUSED 127.0.0.1:${port}) within RABBIT_CONNECT_TIMEOUT (1000 ms)`;
  expect(logRecords(run.stderr).filter((line) => line.level === ERROR && line.msg.includes(reason))).toHaveLength(1);
  expect(logRecords(run.stderr).find((line) => line.level === FATAL)?.msg).toContain(reason);
});

test('a sink exchange that does not exist stops the start, with how to declare it', async () => {
  const run = await runBinToEnd({ SOURCE_URI: await httpSourceOnFreePort(), SINK_URI: 'rabbit://no-such-exchange-wasm-pipes' });
  expect(run.status).toBe(1);
  expect(logRecords(run.stderr).find((line) => line.level === FATAL)?.msg).toContain(
    "exchange 'no-such-exchange-wasm-pipes' does not exist; declare it (for example: rabbitmqadmin declare exchange",
  );
});

test('a sink that keeps trying with refused credentials logs the reason at error once, not at every write', async () => {
  const { logger, lines } = capturingLogger('debug');
  const out = sink('rabbit://?routing_key=orders', {
    env: { RABBIT_SERVER_URL: 'amqp://guest:not-the-password@127.0.0.1:5672/' },
    logger,
    retry: { maxAttempts: 1 },
  });
  for (let i = 0; i < 3; i++) {
    const error = await write(out, { id: `m-${i}`, body: 'x' });
    expect(error?.message).toContain(REFUSED);
  }
  await out.close();
  const refusals = lines().filter((line) => line.msg.includes(REFUSED));
  expect(refusals.filter((line) => line.level === ERROR)).toHaveLength(1);
  // the later ones are still there for whoever looks at debug
  expect(refusals.length).toBeGreaterThanOrEqual(3);
});
