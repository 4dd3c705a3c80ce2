import { connect } from '@nats-io/transport-node';
import { source, sink, start } from 'wasm-pipes';
import { route } from 'wasm-pipes/operators';

// Webhook events routed by their JSON `type` to three NATS subjects; what matches no case goes to a fourth.
async function main(): Promise<void> {
  const run = process.pid;
  const port = Number(process.env.PORT ?? 9000);
  const nats = await connect({ servers: process.env.NATS_SERVER_URL ?? '127.0.0.1:4222' });
  const seen: string[] = [];
  const subscription = nats.subscribe(`events${run}.>`, {
    callback: (_error, msg) => void seen.push(`${msg.subject.split('.')[1]} ${msg.string()}`),
  });

  const relay = start(
    source(`http://127.0.0.1:${port}/events`),
    route(
      [
        { json: { type: 'order' }, to: sink(`nats://events${run}.orders`) },
        { json: { type: 'refund' }, to: sink(`nats://events${run}.refunds`) },
        { json: { type: ['signup', 'login'] }, to: sink(`nats://events${run}.users`) },
      ],
      { default: sink(`nats://events${run}.other`) },
    ),
  );
  await relay.started;

  for (const type of ['order', 'refund', 'login', 'ping']) {
    const answer = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body: JSON.stringify({ type }) });
    if (answer.status !== 200) throw new Error(`the webhook answered ${answer.status}`);
  }
  await nats.flush();
  while (seen.length < 4) await new Promise((resolve) => setTimeout(resolve, 20));

  await relay.stop();
  subscription.unsubscribe();
  await nats.close();
  for (const line of seen.sort()) console.log(line);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
