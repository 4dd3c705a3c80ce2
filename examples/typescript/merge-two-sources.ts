import { connect } from '@nats-io/transport-node';
import { merge } from 'rxjs';
import { source, sink, start } from 'wasm-pipes';

// Two NATS subjects merged into one JSON-lines file: each source keeps its own credit window, and each message is
// settled with the source it came from.
async function main(): Promise<void> {
  const run = process.pid; // unique subjects, so that the example can run next to others
  const file = `/tmp/wasm-pipes-merged-${run}.jsonl`;
  const relay = start(merge(source(`nats://orders${run}`), source(`nats://refunds${run}`)), sink(`file://${file}`));
  await relay.started;

  const nats = await connect({ servers: process.env.NATS_SERVER_URL ?? '127.0.0.1:4222' });
  nats.publish(`orders${run}`, '{"order":1}');
  nats.publish(`refunds${run}`, '{"refund":7}');
  await nats.flush();
  while (relay.stats().written < 2) await new Promise((resolve) => setTimeout(resolve, 20));

  await relay.stop();
  await nats.close();
  console.log(`${relay.stats().written} messages from ${relay.sources.length} sources in ${file}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
