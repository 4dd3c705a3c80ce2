// P0: the cost of the settlement machinery. mem:// -> mapMessages(uppercase) -> mem://, against a plain RxJS
// from(array).pipe(map(uppercase)) over the same bodies into an array (the mem:// sink keeps its outputs too, so both
// sides pay the same garbage-collection bill for retained results).
import { from, map } from 'rxjs';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/mem';
import { mapMessages } from '../../operators';

const BODY = JSON.stringify({
  event_type: 'page_view',
  user: 'user-0000',
  path: '/products/widgets/blue-widget-with-a-long-name',
  referrer: 'https://www.example.com/search?q=widgets',
  ts: 1700000000000,
}).padEnd(200, ' ');
const bodies = [Buffer.from(BODY)];

function uppercase(body: Buffer): Buffer {
  return Buffer.from(body.toString('latin1').toUpperCase(), 'latin1');
}

let round = 0;

export const p0: Scenario = {
  id: 'P0',
  title: 'mem:// -> mapMessages(uppercase) -> mem:// vs RxJS from(array).pipe(map(uppercase))',
  messages: 1_000_000,
  quickMessages: 100_000,
  // the settlement machinery should cost under 1 µs a message: at ~0.3 µs for the map itself, a ratio above 0.25
  target: 0.25,
  baseline: {
    name: 'rxjs from(array).pipe(map)',
    async run(messages) {
      const input = new Array<Buffer>(messages).fill(bodies[0]);
      const began = performance.now();
      const outputs: Buffer[] = [];
      await new Promise<void>((resolve) =>
        from(input)
          .pipe(map(uppercase))
          .subscribe({ next: (output) => outputs.push(output), complete: () => resolve() }),
      );
      if (outputs.length !== messages) throw new Error(`baseline saw ${outputs.length} of ${messages}`);
      return performance.now() - began;
    },
  },
  candidate: {
    name: 'wasm-pipes mem -> mapMessages -> mem',
    async run(messages) {
      const name = `bench-p0-${process.pid}-${round++}`;
      const input = memTopic(`${name}-in`);
      for (let i = 0; i < messages; i++) input.publish({ body: bodies[0] });
      const out = sink(`mem://${name}-out?max_backlog=${messages + 1}`);
      const output = memTopic(`${name}-out`);
      const began = performance.now();
      const running = start(
        source(`mem://${name}-in`, { maxInFlight: 1024 }).pipe(mapMessages((m) => ({ body: uppercase(m.body) }))),
        out,
        { handleSignals: false },
      );
      while (output.length < messages) await new Promise((resolve) => setImmediate(resolve));
      const elapsed = performance.now() - began;
      await running.stop();
      input.delete();
      output.delete();
      return elapsed;
    },
  },
};
