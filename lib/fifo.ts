// A first-in first-out queue with O(1) push and shift (Array.prototype.shift is O(n) on large arrays).
// It is a chain of blocks: a queue that empties starts over in the block it has, and a long one fills blocks of
// MAX_BLOCK slots that it lets go as they are read, keeping one for reuse. So a sink's or a stage's queue, which fills
// and empties with every batch, allocates nothing once it has grown, and a topic holding a million messages never
// copies them into a larger array, nor keeps the room of a burst once it has been read.

/** Slots of a queue's first block: a queue that is rarely used (a rate limiter's lane per key) stays small. */
const FIRST_BLOCK = 16;
/** The largest block; blocks double up to it. */
const MAX_BLOCK = 1024;

class Block<T> {
  readonly items: (T | undefined)[];
  next: Block<T> | undefined = undefined;
  constructor(size: number) {
    this.items = new Array<T | undefined>(size);
  }
}

export class Fifo<T> {
  private head: Block<T> = new Block<T>(FIRST_BLOCK);
  private tail: Block<T> = this.head;
  /** The slot of the oldest item, in `head`. */
  private headIndex = 0;
  /** The next free slot, in `tail`. */
  private tailIndex = 0;
  private count = 0;
  /** A read block of MAX_BLOCK slots, kept for the next one needed. */
  private spare: Block<T> | undefined = undefined;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    let tail = this.tail;
    if (this.tailIndex === tail.items.length) {
      const next = this.newBlock(Math.min(MAX_BLOCK, tail.items.length * 2));
      tail.next = next;
      this.tail = tail = next;
      this.tailIndex = 0;
    }
    tail.items[this.tailIndex++] = item;
    this.count++;
  }

  /** Puts an item back at the front (a redelivery goes before newer messages). */
  unshift(item: T): void {
    if (this.count === 0) {
      this.push(item);
      return;
    }
    if (this.headIndex === 0) {
      const block = new Block<T>(FIRST_BLOCK);
      block.next = this.head;
      this.head = block;
      this.headIndex = FIRST_BLOCK;
    }
    this.head.items[--this.headIndex] = item;
    this.count++;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.head.items[this.headIndex];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const head = this.head;
    const item = head.items[this.headIndex];
    head.items[this.headIndex++] = undefined;
    this.count--;
    if (this.headIndex === head.items.length && head !== this.tail) {
      // the oldest block is read: the next one is the head now
      this.head = head.next as Block<T>;
      this.headIndex = 0;
      head.next = undefined;
      if (head.items.length === MAX_BLOCK) this.spare = head;
    } else if (this.count === 0) {
      // empty: start over at the beginning of the block in hand
      this.headIndex = 0;
      this.tailIndex = 0;
    }
    return item;
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const all = new Array<T>(this.count);
    for (let i = 0; i < all.length; i++) all[i] = this.shift() as T;
    return all;
  }

  private newBlock(size: number): Block<T> {
    const spare = this.spare;
    if (size === MAX_BLOCK && spare !== undefined) {
      this.spare = undefined;
      return spare;
    }
    return new Block<T>(size);
  }
}
