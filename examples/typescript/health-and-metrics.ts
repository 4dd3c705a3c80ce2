import { source, sink, start, startAdminServer, pipelineReadiness } from 'wasm-pipes';
import { filterMessages } from 'wasm-pipes/operators';

// stdin -> drop comment lines -> stdout, with /ping, /ready and /metrics on 127.0.0.1:4195 (or ADMIN_PORT) while it runs
async function main(): Promise<void> {
  const pipeline = source('stdin://').pipe(filterMessages((m) => !m.text().startsWith('#'), 'dropComments'));
  const running = start(pipeline, sink('stdout://'), { statsInterval: '10s' });
  const admin = await startAdminServer({ port: Number(process.env.ADMIN_PORT ?? 4195), readiness: () => pipelineReadiness(running) });
  await running.done;
  await admin.close();
  // the counters of /metrics, in code
  for (const stage of running.stats().stages) {
    console.error(`${stage.role} ${stage.stage}: received ${stage.received}, dropped ${stage.dropped}, acked ${stage.acked}`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
