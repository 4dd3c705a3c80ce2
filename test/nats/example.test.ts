// The JetStream -> RabbitMQ example of the README fragment runs as written, and the fragment shows it word for word.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

test('examples/typescript/jetstream-to-rabbit.ts relays an order from JetStream to RabbitMQ', () => {
  const result = spawnSync(process.execPath, [path.join(root, 'dist/examples/typescript/jetstream-to-rabbit.js')], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(result.status).toBe(0);
  expect(result.stdout.trim()).toBe('order-1 {"ID":1,"ITEM":"WIDGET"}');
});

test('docs/connectors/nats.md shows the example word for word', () => {
  const example = fs.readFileSync(path.join(root, 'examples/typescript/jetstream-to-rabbit.ts'), 'utf8');
  const fragment = fs.readFileSync(path.join(root, 'docs/connectors/nats.md'), 'utf8');
  expect(fragment).toContain('```ts\n' + example + '```');
});
