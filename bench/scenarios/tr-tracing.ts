// TR1 and TR100: what tracing costs on P0's pipeline (mem:// -> mapMessages(uppercase) -> mem://). The baseline is
// the same pipeline with tracing off (`tracerProvider: null`); the candidate traces as the bin does, by OTEL_*
// variables, exporting over OTLP/HTTP to a receiver in this process that takes and drops what it is sent (so the
// export's serialisation and requests are paid here, as they would be). TR1 samples 1% of the messages (the target:
// >= 0.9 of off); TR100 every message (its cost per message is the figure to report, not a target to meet).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Scenario } from '../harness';
import { mapMessages } from '../../operators';
import { BODY, throughMem, uppercase } from './common';

/** mem:// -> mapMessages(uppercase) -> mem://, traced by the OTEL_* variables (`traced`) or not: elapsed ms. */
function relay(messages: number, traced: boolean): Promise<number> {
  // the stop flushes what the exporter still holds: not counted (a pipeline that runs on flushes in the background)
  const options = traced ? {} : { tracerProvider: null };
  return throughMem(
    'tr',
    messages,
    mapMessages((m) => ({ body: uppercase(m.body) })),
    () => ({ body: BODY }),
    options,
  );
}

/** A receiver of OTLP/HTTP exports that answers 200 and keeps nothing. */
function collector(): { start(ratio: string): Promise<void>; stop(): Promise<void> } {
  let server: http.Server | undefined;
  const saved = new Map<string, string | undefined>();
  const set = (name: string, value: string): void => {
    if (!saved.has(name)) saved.set(name, process.env[name]);
    process.env[name] = value;
  };
  return {
    async start(ratio) {
      server = http.createServer((request, response) => {
        request.resume();
        request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
      });
      await new Promise<void>((resolve) => (server as http.Server).listen(0, '127.0.0.1', resolve));
      set('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      set('OTEL_TRACES_SAMPLER', 'parentbased_traceidratio');
      set('OTEL_TRACES_SAMPLER_ARG', ratio);
    },
    async stop() {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      saved.clear();
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

function tracingScenario(id: string, ratio: string, target: number, messages: number, note: string): Scenario {
  const receiver = collector();
  return {
    id,
    title: `P0's pipeline traced by OTEL_* at ${Number(ratio) * 100}% sampling, exported over OTLP/HTTP, vs tracing off`,
    messages,
    quickMessages: Math.floor(messages / 10),
    target,
    setup: () => receiver.start(ratio),
    teardown: () => receiver.stop(),
    baseline: { name: 'tracing off', run: (count) => relay(count, false) },
    candidate: { name: `traced, ${note}`, run: (count) => relay(count, true) },
  };
}

export const tr1 = tracingScenario('TR1', '0.01', 0.9, 1_000_000, '1% sampled');
// every message traced: 4 spans each (receive, mapMessages, send, ack); the target only says it ran
export const tr100 = tracingScenario('TR100', '1', 0.01, 200_000, 'every message');
