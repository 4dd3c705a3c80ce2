// The stats line: rates, in flight and totals while a pipeline runs; one line for idle; STALLED naming where the
// oldest message waits.
import { source, sink } from '../../lib/endpoints';
import { emptyStats, start, type PipelineStats } from '../../lib/run';
import { createLogger } from '../../lib/logging/logger';
import { SinkRuntime, type SinkDriver } from '../../lib/sink';
import type { Message } from '../../lib/message';
import { memTopic } from '../../lib/connectors/local/mem';
import { statsLine } from '../../lib/admin/statsLine';
import { mapMessages } from '../../operators';
import { sleep, uniqueName, waitFor } from '../helpers/wait';
import { LineCapture } from './helpers';

function stats(values: Partial<PipelineStats>): PipelineStats {
  return { ...emptyStats(), maxInFlight: 1024, ...values };
}

describe('the stats line', () => {
  test('says rates in and out over the interval, in flight against the window, and totals since start', () => {
    const line = statsLine(
      stats({ received: 3000, written: 2500, acked: 2400, nacked: 3, deadLettered: 1, inFlight: 12, dropped: 7 }),
      stats({ received: 1000, written: 500, acked: 400 }),
      10,
    );
    expect(line.text).toBe(
      'stats: in 200/s, out 200/s, in flight 12/1,024; since start: acked 2,400, nacked 3, dead-lettered 1, dropped 7',
    );
    expect(line.fields).toMatchObject({ inPerSecond: 200, outPerSecond: 200, inFlight: 12, acked: 2400 });
    expect(line.fields.stalled).toBeUndefined();
  });

  test('STALLED when messages were in flight through the interval and none settled, naming where the oldest waits', () => {
    expect(statsLine(stats({ received: 1, inFlight: 1 }), stats({}), 10).fields.stalled).toBeUndefined();
    const line = statsLine(stats({ received: 10, inFlight: 10 }), stats({ received: 10, inFlight: 10 }), 10, {
      ageMs: 42_000,
      lastSeenAfter: 'http://hooks.example.com/in',
    });
    expect(line.text).toContain(
      "STALLED: no message settled in the last 10s; the oldest message came 42s ago and was last seen at 'http://hooks.example.com/in'",
    );
    expect(line.fields).toMatchObject({ stalled: true, oldestLastSeenAfter: 'http://hooks.example.com/in', oldestAgeMs: 42_000 });
  });

  test('a running pipeline logs it at info every interval, and an idle one says so once', async () => {
    const name = uniqueName('stats');
    const input = memTopic(`${name}-in`);
    const out = new LineCapture();
    const logger = createLogger({ format: 'json', destination: out, env: {} });
    const running = start(source(`mem://${name}-in`).pipe(mapMessages((m) => ({ body: m.text() }))), sink(`mem://${name}-out`), {
      handleSignals: false,
      statsInterval: '100ms',
      logger,
    });
    await running.started;
    for (let i = 0; i < 50; i++) input.publish({ body: `m${i}` });
    await waitFor(() => running.stats().acked === 50, 'the messages acked');
    await waitFor(() => out.json().some((line) => String(line.msg).startsWith('stats: in')), 'a stats line');
    await waitFor(() => out.json().some((line) => line.idle === true), 'the idle line');
    await sleep(350);
    const lines = out.json();
    const statLines = lines.filter((line) => String(line.msg).startsWith('stats:'));
    expect(statLines.every((line) => line.level === 30)).toBe(true);
    const busy = statLines.find((line) => String(line.msg).startsWith('stats: in')) as { stats: Record<string, number> };
    expect(busy.stats.received).toBeGreaterThan(0);
    // after the idle line, nothing more until traffic comes back
    expect(statLines.filter((line) => line.idle === true)).toHaveLength(1);
    expect(statLines[statLines.length - 1].idle).toBe(true);
    await running.stop();
    memTopic(`${name}-in`).delete();
    memTopic(`${name}-out`).delete();
  });

  test('a sink that never confirms shows up as STALLED with its name', async () => {
    const name = uniqueName('stall');
    const input = memTopic(`${name}-in`);
    const out = new LineCapture();
    const logger = createLogger({ format: 'json', destination: out, env: {} });
    const confirms: (() => void)[] = [];
    const stuck: SinkDriver = {
      scheme: 'stuck',
      write: (_batch: readonly Message[]) => new Promise<void>((resolve) => confirms.push(resolve)),
      close: async () => undefined,
    };
    const running = start(source(`mem://${name}-in`, { ackTimeout: '1m' }), new SinkRuntime('stuck://hook', stuck), {
      handleSignals: false,
      statsInterval: 150,
      shutdownTimeout: 100,
      logger,
    });
    await running.started;
    input.publish({ body: 'waits' });
    await waitFor(() => out.json().some((line) => String(line.msg).includes('STALLED')), 'a STALLED line', 5000);
    const stalled = out.json().find((line) => String(line.msg).includes('STALLED')) as { msg: string; stats: Record<string, unknown> };
    expect(stalled.msg).toContain("was last seen at 'stuck://hook'");
    expect(stalled.stats).toMatchObject({ stalled: true, inFlight: 1, oldestLastSeenAfter: 'stuck://hook' });
    for (const confirm of confirms) confirm();
    await running.stop();
    memTopic(`${name}-in`).delete();
  });
});
