import { source, sink, run } from 'wasm-pipes';
import { fallback } from 'wasm-pipes/operators';

// stdin -> a webhook, and when the webhook cannot take a message (after its retries), a local spool file instead.
// Each line is acked once one of them has it.
const spool = process.env.SPOOL ?? '/tmp/wasm-pipes-spool.jsonl';
const webhook = process.env.WEBHOOK ?? 'http://127.0.0.1:9999/hook';

run(source('stdin://'), fallback(sink(webhook, { retry: { maxAttempts: 2, initialDelay: '50ms' } }), sink(`file://${spool}`))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
