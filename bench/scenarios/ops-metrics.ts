// OPS1: what watching a pipeline costs. P0's pipeline (mem:// -> mapMessages(uppercase) -> mem://) while /metrics is
// scraped every 50 ms (20 times more often than a usual Prometheus interval) and a stats line is logged every 100 ms,
// against the same pipeline unwatched. The counters are plain numbers read at scrape time, so the ratio should stay
// near 1.
import type { Scenario } from '../harness';
import { source, sink, start, startAdminServer, pipelineReadiness, createLogger } from '../../lib';
import type { AdminServer } from '../../lib';
import { memTopic } from '../../lib/connectors/mem';
import { mapMessages } from '../../operators';
import { Writable } from 'node:stream';

const BODY = Buffer.from(JSON.stringify({ event_type: 'page_view', user: 'user-0000', path: '/products/widgets' }).padEnd(200, ' '));
const quiet = createLogger({ format: 'json', destination: new Writable({ write: (_chunk, _encoding, done) => done() }), env: {} });
let round = 0;
let scrapes = 0;

async function relay(messages: number, watched: boolean): Promise<number> {
  const name = `bench-ops1-${process.pid}-${round++}`;
  const input = memTopic(`${name}-in`);
  const out = sink(`mem://${name}-out?max_backlog=${messages + 1}`);
  const output = memTopic(`${name}-out`);
  for (let i = 0; i < messages; i++) input.publish({ body: BODY });
  const began = performance.now();
  const running = start(
    source(`mem://${name}-in`, { maxInFlight: 1024 }).pipe(mapMessages((m) => ({ body: Buffer.from(m.body.toString('latin1').toUpperCase(), 'latin1') }))),
    out,
    { handleSignals: false, logger: quiet, statsInterval: watched ? 100 : 0 },
  );
  let admin: AdminServer | undefined;
  let scraper: NodeJS.Timeout | undefined;
  if (watched) {
    admin = await startAdminServer({ port: 0, readiness: () => pipelineReadiness(running), logger: quiet });
    const url = `${admin.url}/metrics`;
    // the scraper runs in this process too, so the candidate also pays for the client side of each scrape
    const scrape = (): Promise<void> =>
      fetch(url)
        .then((response) => response.text())
        .then(() => {
          scrapes++;
        })
        .catch(() => undefined);
    await scrape();
    scraper = setInterval(() => void scrape(), 50);
  }
  while (output.length < messages) await new Promise((resolve) => setImmediate(resolve));
  const elapsed = performance.now() - began;
  clearInterval(scraper);
  await running.stop();
  await admin?.close();
  input.delete();
  output.delete();
  return elapsed;
}

export const ops1: Scenario = {
  id: 'OPS1',
  title: 'P0 pipeline with /metrics scraped every 50 ms and a stats line every 100 ms vs unwatched',
  messages: 1_000_000,
  quickMessages: 100_000,
  target: 0.9,
  baseline: { name: 'mem -> mapMessages -> mem, unwatched', run: (messages) => relay(messages, false) },
  candidate: { name: 'the same, scraped every 50 ms', run: (messages) => relay(messages, true) },
  async verify() {
    return scrapes > 0 ? [`${scrapes} scrapes answered`] : ['FAIL: /metrics was never scraped'];
  },
};
