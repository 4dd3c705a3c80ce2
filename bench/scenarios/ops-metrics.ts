// OPS1: what watching a pipeline costs. mem:// -> mapMessages(uppercase) -> a sink whose writes (batches of 64, 16 at
// once) are confirmed on the next turn of the event loop, as an I/O sink's are, while /metrics is scraped every 200 ms
// (75 times more often than a usual 15 s Prometheus interval) and a stats line is logged every 100 ms, against the same
// pipeline unwatched. (P0's mem:// sink confirms synchronously, so a run never yields to the event loop and nothing
// could be scraped during it.) The counters are plain numbers read at scrape time, so the ratio should stay near 1.
import type { Scenario } from '../harness';
import { source, start, startAdminServer, pipelineReadiness, createLogger } from '../../lib';
import { SinkRuntime } from '../../lib/sink';
import type { AdminServer, Message, RunningPipeline } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { mapMessages } from '../../operators';
import { Writable } from 'node:stream';

const BODY = Buffer.from(JSON.stringify({ event_type: 'page_view', user: 'user-0000', path: '/products/widgets' }).padEnd(200, ' '));
const quiet = createLogger({ format: 'json', destination: new Writable({ write: (_chunk, _encoding, done) => done() }), env: {} });
let round = 0;
/** Most of a scrape's cost is prom-client's default process metrics (event loop lag percentiles, /proc reads). */
const SCRAPE_EVERY_MS = 200;
let scrapes = 0;
/** Scrapes answered while a candidate run was being timed. */
let scrapesDuringRuns = 0;

async function relay(messages: number, watched: boolean): Promise<number> {
  const name = `bench-ops1-${process.pid}-${round++}`;
  const input = memTopic(`${name}-in`);
  let written = 0;
  const out = new SinkRuntime(
    'next-tick://out',
    {
      scheme: 'next-tick',
      write: (batch: readonly Message[]) =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            written += batch.length;
            resolve();
          }),
        ),
      close: async () => undefined,
    },
    { concurrency: 16, batch: { count: 64, linger: 0 }, logger: quiet },
  );
  for (let i = 0; i < messages; i++) input.publish({ body: BODY });
  // the admin server and a first scrape come before the clock starts: their set-up is not what is measured
  let running: RunningPipeline | undefined;
  let admin: AdminServer | undefined;
  let scrape: (() => Promise<void>) | undefined;
  if (watched) {
    admin = await startAdminServer({ port: 0, readiness: () => pipelineReadiness(running as RunningPipeline), logger: quiet });
    const url = `${admin.url}/metrics`;
    // the scraper runs in this process too, so the candidate also pays for the client side of each scrape
    scrape = (): Promise<void> =>
      fetch(url)
        .then((response) => response.text())
        .then(() => {
          scrapes++;
        })
        .catch(() => undefined);
    await scrape();
  }
  const scrapesBefore = scrapes;
  const began = performance.now();
  running = start(
    source(`mem://${name}-in`, { maxInFlight: 1024 }).pipe(
      mapMessages((m) => ({ body: Buffer.from(m.body.toString('latin1').toUpperCase(), 'latin1') })),
    ),
    out,
    { handleSignals: false, logger: quiet, statsInterval: watched ? 100 : 0 },
  );
  // one scrape as the run begins (so that even a short run is watched), then every SCRAPE_EVERY_MS
  void scrape?.();
  const scraper = scrape === undefined ? undefined : setInterval(() => void scrape?.(), SCRAPE_EVERY_MS);
  while (written < messages) await new Promise((resolve) => setImmediate(resolve));
  const elapsed = performance.now() - began;
  scrapesDuringRuns += scrapes - scrapesBefore;
  clearInterval(scraper);
  await running.stop();
  await admin?.close();
  input.delete();
  return elapsed;
}

export const ops1: Scenario = {
  id: 'OPS1',
  title: 'mem:// -> mapMessages -> an I/O-like sink, scraped every 200 ms with a stats line every 100 ms, vs unwatched',
  messages: 1_000_000,
  quickMessages: 100_000,
  // the machine is shared and noisy: ratios of the same build spread by about ±8 %
  target: 0.85,
  baseline: { name: 'mem -> mapMessages -> next-tick sink, unwatched', run: (messages) => relay(messages, false) },
  candidate: { name: 'the same, scraped every 200 ms', run: (messages) => relay(messages, true) },
  async verify() {
    return scrapesDuringRuns > 0
      ? [`${scrapesDuringRuns} scrapes answered while the candidate ran`]
      : ['FAIL: /metrics was never scraped while the candidate ran'];
  },
};
