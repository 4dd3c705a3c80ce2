import { source, sink, run } from 'wasm-pipes';
import { filterMessages, mapMessages, fanOut } from 'wasm-pipes/operators';

// stdin -> drop blank events -> uppercase -> stdout and a file; each line is acked once both sinks wrote it
const pipeline = source('stdin://').pipe(
  filterMessages((m) => m.text().trim() !== '{}'),
  mapMessages((m) => ({ body: m.text().toUpperCase(), metadata: { ...m.metadata, relayed: 'yes' } })),
);

run(pipeline, fanOut(sink('stdout://'), sink('file:///tmp/wasm-pipes-example.jsonl'))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
