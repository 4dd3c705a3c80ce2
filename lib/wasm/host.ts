// What the host gives every instance of a module: the cache, the configuration, logging (rate-limited where a
// module logs per message) and the counters of the module's life.
import type { Cache } from '../cache/types';
import type { Logger } from '../logging/logger';
import type { BatchedReads } from './reads';

export interface HostServices {
  readonly cache: Cache;
  readonly config: ReadonlyMap<string, string>;
  readonly logger: Logger;
  /** Module logs at info and above go through this limiter. */
  readonly moduleLog: RateLimitedLog;
  /** With an asynchronous cache: the cache reads of suspended instances, sent together (else one get each). */
  readonly reads?: BatchedReads;
}

/**
 * At most `perSecond` lines a second; past that, lines are counted and one line says how many were suppressed.
 * Modules written for the Go prototype log on every message: without this, logging would be the bottleneck.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private count = 0;
  private suppressed = 0;
  private reportTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly perSecond = 10,
    /** The line that counts what was suppressed. */
    private readonly suppressedLine: (count: number, perSecond: number) => string = (count, perSecond) =>
      `${count} log line(s) from the module were suppressed (more than ${perSecond} a second)`,
  ) {}

  write(level: 'info' | 'warn' | 'error', text: string, fields?: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.report();
      this.windowStart = now;
      this.count = 0;
    }
    if (this.count < this.perSecond) {
      this.count++;
      if (fields === undefined) this.logger[level](text);
      else this.logger[level](fields, text);
      return;
    }
    this.suppressed++;
    // say how many were suppressed when the second is over, even if the module logs nothing more
    if (this.reportTimer === undefined) {
      this.reportTimer = setTimeout(() => this.report(), Math.max(1, 1000 - (now - this.windowStart)));
      this.reportTimer.unref();
    }
  }

  private report(): void {
    if (this.reportTimer !== undefined) clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    if (this.suppressed === 0) return;
    this.logger.warn({ suppressed: this.suppressed }, this.suppressedLine(this.suppressed, this.perSecond));
    this.suppressed = 0;
  }
}

/** Counters of a loaded module, summed over its instances (for tests, metrics and the P6 benchmark). */
export interface WasmModuleStats {
  /** Instances created (the first ones, replacements after traps, recycled ones). */
  instantiations: number;
  /** Calls into the module (one per message). */
  calls: number;
  /** Messages that failed: traps, budget, negative status. */
  failures: number;
  /** Traps (the instance was replaced). */
  traps: number;
  /** Calls stopped by the budget. */
  budgetExceeded: number;
  /** Calls that waited for an asynchronous host service. */
  suspensions: number;
}

export function newStats(): WasmModuleStats {
  return { instantiations: 0, calls: 0, failures: 0, traps: 0, budgetExceeded: 0, suspensions: 0 };
}
