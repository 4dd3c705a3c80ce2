// A first-in first-out queue with O(1) push and shift (Array.prototype.shift is O(n) on large arrays).
// A ring of a power-of-two size: once it has grown to what a queue holds, pushing and shifting allocate nothing (an
// array that grows by push() and is cut down by slice() reallocated on every thousand messages or so, a garbage bill
// every message of a pipeline paid at each queue it passed). It grows by doubling when full, and halves when a quarter
// full again, so that a burst does not keep its memory for ever.

const SMALLEST = 8;

export class Fifo<T> {
  private ring: (T | undefined)[] = new Array<T | undefined>(SMALLEST);
  private mask = SMALLEST - 1;
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    if (this.size === this.ring.length) this.resize(this.ring.length * 2);
    this.ring[(this.head + this.size) & this.mask] = item;
    this.size++;
  }

  /** Puts an item back at the front (a redelivery goes before newer messages). */
  unshift(item: T): void {
    if (this.size === this.ring.length) this.resize(this.ring.length * 2);
    this.head = (this.head - 1) & this.mask;
    this.ring[this.head] = item;
    this.size++;
  }

  peek(): T | undefined {
    return this.size > 0 ? this.ring[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.size--;
    if (this.ring.length > 1024 && this.size * 4 < this.ring.length) this.resize(this.ring.length / 2);
    return item;
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const all = this.inOrder(this.size) as T[];
    this.ring = new Array<T | undefined>(SMALLEST);
    this.mask = SMALLEST - 1;
    this.head = 0;
    this.size = 0;
    return all;
  }

  /** The items, oldest first, in an array of `capacity` places. */
  private inOrder(capacity: number): (T | undefined)[] {
    const copy = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.size; i++) copy[i] = this.ring[(this.head + i) & this.mask];
    return copy;
  }

  private resize(capacity: number): void {
    this.ring = this.inOrder(capacity);
    this.mask = capacity - 1;
    this.head = 0;
  }
}
