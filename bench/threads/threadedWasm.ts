// The main-thread side of the P8T prototype: a wasm stage whose calls run on worker threads, batches of messages per
// hop (never one message per hop: a postMessage costs tens of µs), with the outputs passed on in input order, so that
// a single ordered source keeps its order. Each output shares its input's settlement (message.with).
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Observable, type OperatorFunction } from 'rxjs';
import type { Message } from '../../lib/message';

export interface ThreadedWasmOptions {
  threads: number;
  /** Messages per hop. */
  batch: number;
}

interface Pending {
  id: number;
  messages: Message[];
  outputs?: Uint8Array[];
}

/** Starts `threads` worker threads with the module; resolves once each has loaded it. */
export async function startWasmThreads(module: string, threads: number): Promise<Worker[]> {
  const script = path.join(__dirname, 'wasmThread.js');
  return Promise.all(
    Array.from({ length: threads }, () => {
      const worker = new Worker(script, { workerData: { module } });
      return new Promise<Worker>((resolve, reject) => {
        worker.once('error', reject);
        worker.once('message', () => resolve(worker));
      });
    }),
  );
}

/** wasmTransform on `workers` (from startWasmThreads), `batch` messages per hop, outputs in input order. */
export function threadedWasm(workers: readonly Worker[], options: ThreadedWasmOptions): OperatorFunction<Message, Message> {
  return (source) =>
    new Observable<Message>((subscriber) => {
      const inOrder: Pending[] = [];
      const byId = new Map<number, Pending>();
      let filling: Message[] = [];
      let nextId = 0;
      let turn = 0;
      let flushScheduled = false;
      let completed = false;

      const release = (): void => {
        // pass on every batch at the head whose outputs came back: order is kept across threads
        while (inOrder.length > 0 && inOrder[0].outputs !== undefined) {
          const done = inOrder.shift() as Pending;
          byId.delete(done.id);
          const outputs = done.outputs as Uint8Array[];
          for (let i = 0; i < done.messages.length; i++) subscriber.next(done.messages[i].with({ body: outputs[i] }));
        }
        if (completed && inOrder.length === 0 && filling.length === 0) subscriber.complete();
      };
      const onResult = (result: { id: number; bodies: Uint8Array[] }): void => {
        const pending = byId.get(result.id);
        if (pending === undefined) return;
        pending.outputs = result.bodies;
        release();
      };
      for (const worker of workers) worker.on('message', onResult);

      const flush = (): void => {
        flushScheduled = false;
        if (filling.length === 0) return;
        const pending: Pending = { id: nextId++, messages: filling };
        filling = [];
        inOrder.push(pending);
        byId.set(pending.id, pending);
        workers[turn++ % workers.length].postMessage({ id: pending.id, bodies: pending.messages.map((message) => message.body) });
      };
      const subscription = source.subscribe({
        next(message) {
          filling.push(message);
          if (filling.length >= options.batch) flush();
          else if (!flushScheduled) {
            // a partial batch goes once the source has nothing more right now
            flushScheduled = true;
            setImmediate(flush);
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete() {
          completed = true;
          flush();
          release();
        },
      });
      return () => {
        subscription.unsubscribe();
        for (const worker of workers) worker.off('message', onResult);
      };
    });
}
