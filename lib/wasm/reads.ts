// The cache reads of module instances suspended on an asynchronous cache, sent to the backend in batches (Redis:
// one MGET) and answered in one loop, without a promise per message. While a batch is out, new reads wait and go
// together when it returns (like Nagle's algorithm): a read is sent at once when the backend is idle, and under
// load the batches grow with the load. Each request costs a system call and a wake-up of the backend, which on small
// machines costs more than the keys in it.
import type { Cache } from '../cache/types';
import { toError } from '../errors';

/** Called with the value (undefined when missing), or with the error when the read failed. */
export type ReadCallback = (value: Buffer | undefined, error: Error | undefined) => void;

interface Batch {
  keys: string[];
  /** Callbacks per key, in the order of `keys` (a key read by several instances at once is asked once). */
  waiting: ReadCallback[][];
  index: Map<string, number>;
}

export interface BatchedReadsOptions {
  /** Batches out at once; reads asked meanwhile wait for one to return. Default 1. */
  maxBatchesInFlight?: number;
  /** A waiting batch this large goes out even while others are out. Default 1024 keys. */
  maxBatchKeys?: number;
}

export class BatchedReads {
  private pending: Batch | undefined = undefined;
  private scheduled = false;
  private batchesInFlight = 0;
  private readonly maxBatchesInFlight: number;
  private readonly maxBatchKeys: number;
  /** Requests sent to the backend (batches), and the keys in them: for tests and metrics. */
  requests = 0;
  keys = 0;

  constructor(
    private readonly cache: Cache,
    options: BatchedReadsOptions = {},
  ) {
    this.maxBatchesInFlight = options.maxBatchesInFlight ?? 1;
    this.maxBatchKeys = options.maxBatchKeys ?? 1024;
  }

  /** Reads `key` together with other reads; `callback` is called once, never synchronously. */
  read(key: string, callback: ReadCallback): void {
    let batch = this.pending;
    if (batch === undefined) {
      batch = this.pending = { keys: [], waiting: [], index: new Map() };
      // the end of this tick: every instance that suspends in this tick joins the batch
      if (!this.scheduled && this.batchesInFlight < this.maxBatchesInFlight) {
        this.scheduled = true;
        queueMicrotask(this.sendScheduled);
      }
    }
    const at = batch.index.get(key);
    if (at !== undefined) {
      batch.waiting[at].push(callback);
      return;
    }
    batch.index.set(key, batch.keys.length);
    batch.keys.push(key);
    batch.waiting.push([callback]);
    if (batch.keys.length >= this.maxBatchKeys) this.send();
  }

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
    const { keys, waiting } = batch;
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
          for (let i = 0; i < keys.length; i++) answer(waiting[i], values[i], undefined);
        },
        (error: unknown) => {
          this.batchDone();
          const failure = toError(error);
          for (let i = 0; i < keys.length; i++) answer(waiting[i], undefined, failure);
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
          answer(waiting[i], value, undefined);
        },
        (error: unknown) => {
          if (--unanswered === 0) this.batchDone();
          answer(waiting[i], undefined, toError(error));
        },
      );
    }
  }
}

/** Calls each callback; one that throws (a bug downstream) must not keep the others from their answer. */
function answer(callbacks: ReadCallback[], value: Buffer | undefined, error: Error | undefined): void {
  for (const callback of callbacks) {
    try {
      callback(value, error);
    } catch (thrown) {
      process.nextTick(() => {
        throw thrown;
      });
    }
  }
}
