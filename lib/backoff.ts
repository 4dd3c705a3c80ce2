// Spreading retries out: many clients that failed together should not all retry at the same instant.

/** "Equal jitter": half of `backoffMs` fixed, half random (between backoffMs / 2 and backoffMs). */
export function equalJitter(backoffMs: number): number {
  return backoffMs / 2 + Math.random() * (backoffMs / 2);
}
