// A warning that may fire once per message (a loop dropped, a message refused) logged at most once per interval,
// with the number of occurrences it stands for: per-message failures must be visible without flooding the log.
import type { Logger } from './logger';

export class RateLimitedWarning {
  private lastAt = Number.NEGATIVE_INFINITY;
  private unreported = 0;

  constructor(
    private readonly logger: Logger,
    /** At most one line this often (ms). */
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one occurrence; logs `message` (with `occurrences` since the last line) unless one was logged lately. */
  warn(fields: Record<string, unknown>, message: string): void {
    this.unreported++;
    const now = this.now();
    if (now - this.lastAt < this.intervalMs) return;
    const occurrences = this.unreported;
    this.lastAt = now;
    this.unreported = 0;
    this.logger.warn(
      { ...fields, occurrences },
      occurrences > 1 ? `${message} (${occurrences} times since the last such warning)` : message,
    );
  }
}
