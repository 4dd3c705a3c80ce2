// The wait of a pull driver's receiveBatch() (and of other loops that must stop at once when asked): until news, a
// time limit, or the abort signal, whichever comes first.

export interface WakeableWaitOptions {
  /** Ends the wait after this many ms; without it, only a wake-up or the signal does. */
  ms?: number;
  /** Receives the function that ends the wait, to keep where the code that has news calls it. */
  wake?: (end: () => void) => void;
  /** Called with that function each time it runs, so that its keeper can forget it. */
  ended?: (end: () => void) => void;
}

/**
 * Resolves when `signal` aborts, `options.ms` pass, or the function handed to `options.wake` is called, whichever
 * comes first; the timer and the abort listener go with it. A signal that already aborted ends it at once.
 */
export function wakeableWait(signal: AbortSignal, options: WakeableWaitOptions = {}): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const end = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener('abort', end);
      options.ended?.(end);
      resolve();
    };
    const timer = options.ms === undefined ? undefined : setTimeout(end, options.ms);
    signal.addEventListener('abort', end);
    options.wake?.(end);
  });
}
