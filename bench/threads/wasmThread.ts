// The worker-thread side of the P8T prototype: runs wasmTransform (the project's own stage, budget included) over the
// bodies of each batch it is sent and posts the output bodies back, in order. 1 -> 1 transforms only (a prototype to
// measure the hop, not a feature).
import { parentPort, workerData } from 'node:worker_threads';
import { Subject } from 'rxjs';
import { Message } from '../../lib/message';
import { loadWasm } from '../../lib/wasm/load';
import { wasmTransform } from '../../operators';

interface Batch {
  id: number;
  bodies: Uint8Array[];
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('wasmThread runs in a worker thread');
  const module = await loadWasm((workerData as { module: string }).module);
  const input = new Subject<Message>();
  let outputs: Uint8Array[] = [];
  let expected = 0;
  let current = 0;
  input.pipe(wasmTransform(module)).subscribe((output) => {
    outputs.push(output.body);
    output.ack();
    if (outputs.length === expected) {
      port.postMessage({ id: current, bodies: outputs });
      outputs = [];
    }
  });
  port.on('message', (batch: Batch) => {
    current = batch.id;
    expected = batch.bodies.length;
    for (const body of batch.bodies) input.next(Message.create({ body }));
  });
  port.postMessage({ ready: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`wasmThread: ${(error as Error).stack}\n`);
  process.exit(1);
});
