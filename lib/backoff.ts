// Spreading retries out: many clients that failed together should not all retry at the same instant.

/**
 * Exponential backoff: `baseMs` before the first retry (`attempt` 1), doubling with each attempt, never above `capMs`.
 * Attempts below 1 count as the first.
 */
export function exponentialBackoff(baseMs: number, attempt: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** "Equal jitter": half of `backoffMs` fixed, half random (between backoffMs / 2 and backoffMs). */
export function equalJitter(backoffMs: number): number {
  return backoffMs / 2 + Math.random() * (backoffMs / 2);
}
