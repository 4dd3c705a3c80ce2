// The seed README's two examples, with the built bin, word for word apart from the hosts and ports: HTTP -> nats://sink,
// and nats://sink?pipe=queue -> HTTP back into the first, a loop of two processes. A real HTTP request goes in; a
// subscriber on 'sink' sees it come around again and again. A NATS server of our own keeps the loop off the shared one.
import { connect } from '@nats-io/transport-node';
import { BinProcess } from '../helpers/bin';
import { privateNatsServerForFile } from './helpers';
import { freePort, uniqueName, waitFor } from '../helpers/wait';

const { server, bins } = privateNatsServerForFile();

test('HTTP -> nats://sink and nats://sink?pipe=queue -> HTTP: a POSTed event goes round the loop', async () => {
  const port = await freePort();
  const watcher = await connect({ servers: server.url });
  const marker = uniqueName('seed');
  const seen: string[] = [];
  watcher.subscribe('sink', {
    callback: (_error, msg) => {
      if (msg.string().includes(marker)) seen.push(msg.headers?.get('Nats-Msg-Id') ?? '');
    },
  });
  await watcher.flush();

  // > SOURCE_URI=http://:9000/events SINK_URI=nats://sink NATS_SERVER_URL=0.0.0.0:4222 wasm-pipes
  const first = new BinProcess({ SOURCE_URI: `http://127.0.0.1:${port}/events`, SINK_URI: 'nats://sink', NATS_SERVER_URL: server.url });
  bins.push(first);
  await first.started();
  // > SOURCE_URI=nats://sink?pipe=queue NATS_SERVER_URL=0.0.0.0:4222 SINK_URI=http://localhost:9000/events  wasm-pipes
  const second = new BinProcess({
    SOURCE_URI: 'nats://sink?pipe=queue',
    NATS_SERVER_URL: server.url,
    SINK_URI: `http://localhost:${port}/events`,
  });
  bins.push(second);
  await second.started();

  // > curl -X POST -H "Content-Type: application/json" -d '{"event_type": "test", "data": {"test": "test"}}' http://localhost:9000/events
  const response = await fetch(`http://127.0.0.1:${port}/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ event_type: 'test', data: { test: marker } }),
  });
  expect(response.status).toBe(200);
  await response.arrayBuffer();

  // on 'sink' once from the curl, then again each time the second process posted it back through the first
  await waitFor(() => seen.length >= 5, 'the event to go round the loop', 15_000);
  // the same message id all the way round: HTTP x-message-id <-> Nats-Msg-Id
  expect(new Set(seen.slice(0, 5)).size).toBe(1);
  expect(seen[0]).not.toBe('');

  // the seed's unknown ?pipe= is a warning that names it and lists the known parameters, not an error
  const warning = second.logs(/ignoring unknown parameter/).join('\n');
  expect(warning).toContain('pipe');
  expect(warning).toContain('queue');
  expect(warning).toContain('stream');
  // and a core NATS source feeding an HTTP sink that can fail is flagged as at most once
  expect(second.logs(/is at most once/).join('\n')).toContain('JetStream');
  expect(first.logs(/is at most once/)).toEqual([]);

  expect(await second.terminate()).toBe(0);
  expect(await first.terminate()).toBe(0);
  await watcher.close();
});
