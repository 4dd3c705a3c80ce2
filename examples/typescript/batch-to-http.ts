import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { source, sink, start, memTopic } from 'wasm-pipes';
import { batchMessages } from 'wasm-pipes/operators';

// 1 000 events become 10 POSTs of a JSON array of 100: each event is acked when the POST holding it got a 2xx.
async function main(): Promise<void> {
  // the receiving end: a bulk endpoint that counts what it gets
  let posts = 0;
  let events = 0;
  const bulk = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      posts++;
      events += (JSON.parse(body) as unknown[]).length;
      response.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => bulk.listen(0, '127.0.0.1', resolve));
  const port = (bulk.address() as AddressInfo).port;

  const events$ = memTopic(`events-${process.pid}`);
  for (let i = 0; i < 1000; i++) events$.publish({ body: JSON.stringify({ n: i }) });

  const relay = start(
    source(`mem://events-${process.pid}`).pipe(batchMessages({ count: 100, time: '1s' })),
    sink(`http://127.0.0.1:${port}/bulk`),
  );
  while (relay.stats().acked < 1000) await new Promise((resolve) => setTimeout(resolve, 20));
  await relay.stop();
  bulk.close();
  console.log(`${events} events in ${posts} POSTs`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
