// What the WORKERS tests share: the workers' PIDs and counts as the primary and the workers log them.
import { type BinProcess } from '../helpers/bin';
import { waitFor } from '../helpers/wait';

/** The PID of worker `index`'s latest incarnation, from the primary's `worker N started|restarted (pid P)` lines. */
export function workerPid(bin: BinProcess, index: number): number | undefined {
  const lines = bin
    .records()
    .filter(
      (record) => record.worker === index && typeof record.workerPid === 'number' && /^worker \d+ (started|restarted)/.test(record.msg),
    );
  const last = lines.at(-1);
  return last === undefined ? undefined : (last.workerPid as number);
}

/** Waits until the primary logged that worker `index` was restarted, and returns its new PID. */
export async function restartedPid(bin: BinProcess, index: number, timeoutMs = 30_000): Promise<number> {
  await waitFor(
    () => bin.logs(new RegExp(`^worker ${index} restarted`)).length > 0 || !bin.running,
    `worker ${index} to be restarted`,
    timeoutMs,
  );
  const pid = workerPid(bin, index);
  if (pid === undefined || !bin.running) throw new Error(`worker ${index} was not restarted:\n${bin.stderr}`);
  return pid;
}

/** The stats of each worker's last `worker stopped: …` line, by worker number. */
export function workerFinalStats(bin: BinProcess): Map<number, { received: number; acked: number; nacked: number; written: number }> {
  const stats = new Map<number, { received: number; acked: number; nacked: number; written: number }>();
  for (const record of bin.records()) {
    if (typeof record.worker === 'number' && /^worker stopped/.test(record.msg)) {
      stats.set(record.worker, record.stats as { received: number; acked: number; nacked: number; written: number });
    }
  }
  return stats;
}

/** The stats of the primary's `wasm-pipes stopped: …` line. */
export function groupFinalStats(bin: BinProcess): { received: number; acked: number; nacked: number; written: number } | undefined {
  const line = bin.records().find((record) => record.worker === undefined && /^wasm-pipes stopped/.test(record.msg));
  return line?.stats as { received: number; acked: number; nacked: number; written: number } | undefined;
}

/** The value of one sample of a Prometheus text, or undefined. */
export function sample(metrics: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (wanted.every((pair) => labelText.split(',').includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
