// docs/connectors/kafka.md: it names every URI parameter the connector declares, with its default, and its commands
// run as written (the built bin for `./wasm-pipes`, a bootstrap file of this run for the /tmp one it names).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lookupScheme, type ParamSpec } from '../../lib/registry';
import { repositoryRoot } from '../fixtures/root';
import { binEnv } from '../helpers/bin';
import { pageScriptArgs } from '../helpers/docExamples';
import { uniqueName, waitFor } from '../helpers/wait';

const page = fs.readFileSync(path.join(repositoryRoot(), 'docs', 'connectors', 'kafka.md'), 'utf8');

/** The page's row of a parameter: `| \`name\` | applies to | default | meaning |`. */
function row(name: string): string | undefined {
  return page.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
}

test('every parameter of kafka:// is described in code and in the page, with its default', () => {
  const definition = lookupScheme('kafka', 'SOURCE_URI');
  const params = [...(definition.sourceParams ?? []), ...(definition.sinkParams ?? [])] as ParamSpec[];
  expect(params.map((param) => param.name).sort()).toEqual(['key_name', 'message_id', 'offset', 'topic']);
  for (const param of params) {
    expect(typeof param).toBe('object');
    expect(param.description.length).toBeGreaterThan(20);
    const line = row(param.name);
    expect({ param: param.name, documented: line !== undefined }).toEqual({ param: param.name, documented: true });
    if (param.default !== undefined) expect(line).toContain(param.default);
  }
});

test('the local try-out runs as written: two records relayed to audit, keyed by their user header', async () => {
  const bootstrap = path.join(os.tmpdir(), `${uniqueName('kafka-docs')}.bootstrap`);
  // its own process group: the background jobs (the mock cluster, the relay) are stopped with it, by its id
  const shell = spawn('bash', pageScriptArgs(page, { '/tmp/kafka-bootstrap': bootstrap }), {
    cwd: repositoryRoot(),
    env: binEnv({ LOG_LEVEL: 'warn' }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  shell.stdout.on('data', (chunk: Buffer) => (stdout += String(chunk)));
  shell.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
  const exited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
  const lines = (): string[] => stdout.split('\n').filter((line) => line !== '');
  try {
    await waitFor(() => lines().length >= 2 || shell.exitCode !== null, 'two records printed', 60_000);
    expect({ exitCode: shell.exitCode, stderr }).toEqual({ exitCode: null, stderr: '' });
    const records = lines().map((line) => JSON.parse(line) as { id: string; key?: string; body: string; metadata: Record<string, string> });
    const byId = new Map(records.map((record) => [record.id, record]));
    expect(byId.get('order-1')).toMatchObject({ key: 'alice', body: '12 EUR', metadata: { user: 'alice', 'kafka-topic': 'audit' } });
    expect(byId.get('order-2')).toMatchObject({ key: 'bob', body: '30 EUR', metadata: { user: 'bob', 'kafka-topic': 'audit' } });
  } finally {
    if (shell.exitCode === null && shell.pid !== undefined) process.kill(-shell.pid, 'SIGTERM');
    await exited;
    fs.rmSync(bootstrap, { force: true });
  }
});
