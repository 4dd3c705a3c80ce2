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
  async endpoints() {
    const port = await freePort();
    const uri = `http://127.0.0.1:${port}/${uniqueName('conformance')}`;
    return { sourceUri: uri, sinkUri: uri };
  },
});
