// A value set for the time of a synchronous call: what run() is subscribing now (its stage collector, its source
// registry), for the operators and sources that open inside that subscribe.

export class SubscribeScope<T> {
  private value: T | undefined;

  /** The value of the innermost run() under way, if any. */
  get current(): T | undefined {
    return this.value;
  }

  /** Runs `body` with `value` as current, and restores the value before it (nested runs unwind in order). */
  run<R>(value: T, body: () => R): R {
    const previous = this.value;
    this.value = value;
    try {
      return body();
    } finally {
      this.value = previous;
    }
  }
}
