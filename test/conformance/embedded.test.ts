// The conformance suite for the embedded connectors: mem://, file:// and HTTP (the HTTP sink posting to the HTTP source).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { conformanceSuite } from './suite';
import { freePort, uniqueName } from '../helpers/wait';
import { memTopic } from '../../lib/connectors/local/mem';

conformanceSuite({
  name: 'mem://',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  missing: { alwaysExists: 'a mem:// topic is created by its first use' },
  refused: { refusesNothing: 'an in-process queue takes any message' },
  crash: { unsupported: 'a mem:// topic lives inside one process, so it dies with the bin' },
  async endpoints() {
    const topic = uniqueName('conformance');
    return { sourceUri: `mem://${topic}`, sinkUri: `mem://${topic}`, cleanup: async () => memTopic(topic).delete() };
  },
});

conformanceSuite({
  name: 'file://',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  missing: { name: 'no-such-file.jsonl', sourceUri: `file://${path.join(os.tmpdir(), 'no-such-file.jsonl')}` },
  refused: { refusesNothing: 'a file takes any line' },
  // every reader reads the file from its first line
  durableAcks: false,
  crash: { unsupported: 'the file:// source reads its file once and ends; a restarted bin reads it all again' },
  async endpoints() {
    const file = path.join(os.tmpdir(), `${uniqueName('conformance')}.jsonl`);
    return { sourceUri: `file://${file}`, sinkUri: `file://${file}`, cleanup: () => fs.promises.rm(file, { force: true }) };
  },
});

conformanceSuite({
  name: 'http:// (HTTP sink -> HTTP source)',
  redelivery: true,
  subscribeFirst: true,
  keys: true,
  missing: { alwaysExists: 'HTTP has no queue or topic: the source is the server, and a wrong path is answered 404' },
  // larger than the source's HTTP_MAX_BODY (1 MiB): answered 413
  refused: { body: Buffer.alloc(2 * 1024 * 1024, 'x') },
  // every retry of the sender is a new request
  countsDeliveries: false,
  async endpoints() {
    const port = await freePort();
    const uri = `http://127.0.0.1:${port}/${uniqueName('conformance')}`;
    return { sourceUri: uri, sinkUri: uri };
  },
});
