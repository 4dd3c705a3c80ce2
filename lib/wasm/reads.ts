// The cache reads of module instances suspended on an asynchronous cache, sent to the backend in batches (Redis:
// one MGET) and answered in one loop, without a promise per message. While a batch is out, new reads wait and go
// together when it returns (like Nagle's algorithm): a read is sent at once when the backend is idle, and under
// load the batches grow with the load. Each request costs a system call and a wake-up of the backend, which on small
// machines costs more than the keys in it.
import type { Cache } from '../cache/types';
import { toError } from '../errors';

/** Who waits for a read (an object, not a closure: nothing is allocated per read). */
export interface Reader {
  /** Called once, never synchronously: the value of `key` (undefined when missing), or the error of the read. */
  onRead(key: string, value: Buffer | undefined, error: Error | undefined): void;
}

interface Batch {
  keys: string[];
  /** The first reader of each key, in the order of `keys`. */
  first: Reader[];
  /** Further readers of a key already in the batch (asked once): rare, so kept apart. */
  more: Map<number, Reader[]> | undefined;
  index: Map<string, number>;
}

export interface BatchedReadsOptions {
  /** Batches out at once; reads asked meanwhile wait for one to return. Default 1. */
  maxBatchesInFlight?: number;
  /** A waiting batch this large goes out even while others are out. Default 1024 keys. */
  maxBatchKeys?: number;
  /**
   * A waiting batch goes out after this long even while others are out (ms), so that one slow request (a backend
   * without a timeout) does not hold every read behind it. Default 20.
   */
  maxWaitMs?: number;
}

export class BatchedReads {
  private pending: Batch | undefined = undefined;
  private scheduled = false;
  private batchesInFlight = 0;
  private readonly maxBatchesInFlight: number;
  private readonly maxBatchKeys: number;
  private readonly maxWaitMs: number;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Requests sent to the backend (batches), and the keys in them: for tests and metrics. */
  requests = 0;
  keys = 0;

  constructor(
    private readonly cache: Cache,
    options: BatchedReadsOptions = {},
  ) {
    this.maxBatchesInFlight = options.maxBatchesInFlight ?? 1;
    this.maxBatchKeys = options.maxBatchKeys ?? 1024;
    this.maxWaitMs = options.maxWaitMs ?? 20;
  }

  /** Reads `key` together with other reads; `reader.onRead` is called once, never synchronously. */
  read(key: string, reader: Reader): void {
    let batch = this.pending;
    if (batch === undefined) {
      batch = this.pending = { keys: [], first: [], more: undefined, index: new Map() };
      if (this.batchesInFlight < this.maxBatchesInFlight) {
        // the end of this tick: every instance that suspends in this tick joins the batch
        if (!this.scheduled) {
          this.scheduled = true;
          queueMicrotask(this.sendScheduled);
        }
      } else {
        // it goes when a batch out returns, or after maxWaitMs at the latest
        this.timer = setTimeout(this.sendLate, this.maxWaitMs);
        this.timer.unref();
      }
    }
    const at = batch.index.get(key);
    if (at !== undefined) {
      batch.more ??= new Map();
      const others = batch.more.get(at);
      if (others === undefined) batch.more.set(at, [reader]);
      else others.push(reader);
      return;
    }
    batch.index.set(key, batch.keys.length);
    batch.keys.push(key);
    batch.first.push(reader);
    if (batch.keys.length >= this.maxBatchKeys) this.send();
  }

  private readonly sendLate = (): void => {
    this.timer = undefined;
    if (this.pending !== undefined) this.send();
  };

  private readonly sendScheduled = (): void => {
    this.scheduled = false;
    if (this.pending !== undefined && this.batchesInFlight < this.maxBatchesInFlight) this.send();
  };

  /** Called when a batch is answered: what waited goes now, before the answered instances run on. */
  private batchDone(): void {
    this.batchesInFlight--;
    if (this.pending !== undefined && this.batchesInFlight < this.maxBatchesInFlight) this.send();
  }

  private send(): void {
    const batch = this.pending as Batch;
    this.pending = undefined;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const { keys } = batch;
    this.requests++;
    this.keys += keys.length;
    this.batchesInFlight++;
    if (this.cache.getMany !== undefined) {
      let reply: Promise<(Buffer | undefined)[]>;
      try {
        reply = this.cache.getMany(keys);
      } catch (error) {
        reply = Promise.reject(error);
      }
      reply.then(
        (values) => {
          this.batchDone();
          for (let i = 0; i < keys.length; i++) answer(batch, i, values[i], undefined);
        },
        (error: unknown) => {
          this.batchDone();
          const failure = toError(error);
          for (let i = 0; i < keys.length; i++) answer(batch, i, undefined, failure);
        },
      );
      return;
    }
    // a backend without batched reads: one get per key, each answered (or failing) alone
    let unanswered = keys.length;
    for (let i = 0; i < keys.length; i++) {
      let reply: Promise<Buffer | undefined>;
      try {
        reply = this.cache.get(keys[i]);
      } catch (error) {
        reply = Promise.reject(error);
      }
      reply.then(
        (value) => {
          if (--unanswered === 0) this.batchDone();
          answer(batch, i, value, undefined);
        },
        (error: unknown) => {
          if (--unanswered === 0) this.batchDone();
          answer(batch, i, undefined, toError(error));
        },
      );
    }
  }
}

/** Answers the readers of key `at`; one that throws (a bug downstream) must not keep the others from their answer. */
function answer(batch: Batch, at: number, value: Buffer | undefined, error: Error | undefined): void {
  const key = batch.keys[at];
  call(batch.first[at], key, value, error);
  const others = batch.more?.get(at);
  if (others !== undefined) for (const reader of others) call(reader, key, value, error);
}

function call(reader: Reader, key: string, value: Buffer | undefined, error: Error | undefined): void {
  try {
    reader.onRead(key, value, error);
  } catch (thrown) {
    process.nextTick(() => {
      throw thrown;
    });
  }
}
