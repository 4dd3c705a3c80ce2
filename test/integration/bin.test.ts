// The built bin, spawned as users run it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { ENV_VARIABLES } from '../../bin/env';
import { freePort, uniqueName, waitFor } from '../helpers/wait';
import { BIN, binEnv, envelopeBodies } from '../helpers/bin';

// no admin server unless a test sets ADMIN_PORT (see binEnv)
const BASE_ENV = binEnv();

function runBin(env: Record<string, string>, input?: string, cwd = os.tmpdir()): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN], { env: { ...BASE_ENV, ...env }, input, cwd, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the wasm-pipes bin', () => {
  test('--help lists every variable with its default, and the schemes', () => {
    const result = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    for (const variable of ENV_VARIABLES) {
      expect(result.stdout).toContain(variable.name);
      if (variable.default !== undefined) expect(result.stdout).toContain(`(default ${variable.default})`);
    }
    expect(result.stdout).toContain('stdout://');
    expect(result.stdout).toContain('http://');
  });

  test('an unknown command or option exits 2 with the list of commands, and the pipeline does not run', () => {
    for (const args of [['frobnicate'], ['frobnicate', 'x'], ['--bogus']]) {
      const file = path.join(os.tmpdir(), `${uniqueName('unknown-command')}.jsonl`);
      const result = spawnSync(process.execPath, [BIN, ...args], {
        env: { ...BASE_ENV, ADMIN_PORT: '0', SOURCE_URI: 'stdin://', SINK_URI: `file://${file}` },
        input: 'must not be consumed\n',
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`^wasm-pipes: unknown (command|option) '${args[0]}'; the commands are: help\\b`));
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(fs.existsSync(file)).toBe(false);
    }
    const help = spawnSync(process.execPath, [BIN, 'help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Commands:');
  });

  // a usage error is one line on stderr, without a stack, and exit code 2
  test.each([
    [
      'an unknown sink scheme names SINK_URI and the supported schemes',
      { SINK_URI: 'bogus://x' },
      ['SINK_URI', "unknown scheme 'bogus://'", 'stdout://', 'http://'],
    ],
    ['a garbled scheme gets the closest known one suggested', { SINK_URI: 'stdoutt://' }, ["Did you mean 'stdout://'?"]],
    ['a bad number names the variable and a valid value', { MAX_IN_FLIGHT: 'lots' }, ['MAX_IN_FLIGHT', 'whole number']],
  ])('%s: exit 2, one line, no stack', (_case, env, fragments) => {
    const result = runBin(env);
    expect(result.status).toBe(2);
    for (const fragment of fragments) expect(result.stderr).toContain(fragment);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('stdin:// -> stdout://: one JSON line per input line, exit 0 at the end of input', () => {
    const result = runBin({ SOURCE_URI: 'stdin://', SINK_URI: 'stdout://' }, 'hello\nworld\n');
    expect(result.status).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { body: string });
    expect(lines.map((line) => line.body)).toEqual(['hello', 'world']);
    // logs go to stderr, never mixed into the data on stdout
    expect(result.stderr).toContain('wasm-pipes started');
  });

  test('stdout:// writes binary bodies as base64', () => {
    const file = path.join(os.tmpdir(), `${uniqueName('bin')}.jsonl`);
    fs.writeFileSync(file, `${JSON.stringify({ id: 'b1', metadata: {}, body_base64: Buffer.from([0xff, 0xfe, 0]).toString('base64') })}\n`);
    const result = runBin({ SOURCE_URI: `file://${file}`, SINK_URI: 'stdout://' });
    fs.rmSync(file);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ id: 'b1', metadata: {}, body_base64: '//4A' });
  });

  test('reads a .env file in the working directory; the real environment wins', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-env-'));
    fs.writeFileSync(path.join(dir, '.env'), 'SOURCE_URI=stdin://\nSINK_URI=bogus://from-dotenv\n');
    const fromFile = runBin({}, 'x\n', dir);
    expect(fromFile.status).toBe(2);
    expect(fromFile.stderr).toContain('bogus');
    const overridden = runBin({ SINK_URI: 'stdout://' }, 'x\n', dir);
    expect(overridden.status).toBe(0);
    expect(JSON.parse(overridden.stdout).body).toBe('x');
    fs.rmSync(dir, { recursive: true });
  });

  test('a port already in use is a start-up failure that says so and suggests another port', async () => {
    const port = await freePort();
    const blocker = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${port}, '127.0.0.1'); setTimeout(() => {}, 30000)`,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = runBin({ SOURCE_URI: `http://127.0.0.1:${port}/events` });
    blocker.kill();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('already in use');
  });

  test('with no environment at all: listens on :9000/events, the seed README curl gets 200, the message is on stdout', () => {
    // a private network namespace: the default binds every interface, and only this test can reach it
    const result = spawnSync('unshare', ['--net', 'bash', path.join(__dirname, '../fixtures/default-run.sh'), BIN], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.stdout).toContain('STATUS 200');
    expect(result.stdout).toContain('EXIT 0');
    const line = /STDOUT (.*)/.exec(result.stdout)?.[1] ?? '';
    const message = JSON.parse(line) as { body: string; metadata: Record<string, string> };
    expect(JSON.parse(message.body)).toEqual({ event_type: 'test', data: { test: 'test' } });
    expect(message.metadata['content-type']).toBe('application/json');
    expect(result.stdout).toContain('LOG wasm-pipes started');
    expect(result.stdout).toContain('LOG listening on http://0.0.0.0:9000/events');
  });
});

describe('graceful drain of the bin', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  test('2 000 concurrent POSTs, SIGTERM in the middle: every request answered 200 is in the file sink, exit 0', async () => {
    const port = await freePort();
    const file = path.join(os.tmpdir(), `${uniqueName('drain')}.jsonl`);
    let stderr = '';
    child = spawn(process.execPath, [BIN], {
      env: {
        ...BASE_ENV,
        SOURCE_URI: `http://127.0.0.1:${port}/events`,
        SINK_URI: `file://${file}`,
        SHUTDOWN_TIMEOUT: '10s',
        MAX_IN_FLIGHT: '256',
      },
    });
    child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
      child?.on('exit', (code) => resolve({ code, at: Date.now() })),
    );
    await waitFor(() => stderr.includes('wasm-pipes started'), 'the bin to start');

    const agent = new Agent({ connections: 2000, pipelining: 0 });
    const statuses = new Map<string, number | string>();
    let answered = 0;
    let signalledAt = 0;
    const requests = Array.from({ length: 2000 }, (_, i) => {
      const id = `req-${i}`;
      return undiciFetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        body: JSON.stringify({ i }),
        headers: { 'content-type': 'application/json', 'x-message-id': id },
        dispatcher: agent,
      })
        .then((response) => {
          statuses.set(id, response.status);
          return response.arrayBuffer();
        })
        .catch((error: Error) => statuses.set(id, error.message))
        .finally(() => {
          answered++;
          if (answered === 500) {
            signalledAt = Date.now();
            child?.kill('SIGTERM');
          }
        });
    });
    await Promise.all(requests);
    const { code, at } = await exited;
    await agent.close();
    expect(signalledAt).toBeGreaterThan(0);
    expect(code).toBe(0);
    expect(at - signalledAt).toBeLessThan(10_000 + 3000);

    const written = new Set(
      fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { id: string }).id),
    );
    const ok = [...statuses].filter(([, status]) => status === 200).map(([id]) => id);
    expect(ok.length).toBeGreaterThanOrEqual(500);
    for (const id of ok) expect(written.has(id)).toBe(true);
    // nothing else was answered with a success; the rest were refused (503) or cut off while shutting down
    for (const [, status] of statuses) expect([200, 503].includes(status as number) || typeof status === 'string').toBe(true);
    expect(stderr).toContain('received SIGTERM: draining');
    fs.rmSync(file, { force: true });
  });
});

describe("the README's first command, and stopping it", () => {
  const root = path.resolve(__dirname, '../..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const operating = fs.readFileSync(path.join(root, 'docs/operating.md'), 'utf8');
  // `npm install && ./wasm-pipes   # ...`: the start command after the install
  const firstLine = /```sh\n([^\n]*)/.exec(readme)?.[1] ?? '';
  const startCommand = /^npm install && (\S+)\s/.exec(firstLine)?.[1] ?? '';
  // the exit code docs/operating.md promises for a stop of that command
  const documentedExit = Number(
    new RegExp(`^\\| \`${startCommand.replace(/[./]/g, '\\$&')}\` in a clone[^\\n]*\\| \`(\\d+)\` \\|$`, 'm').exec(operating)?.[1],
  );
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  /** Starts the README's command from the clone as a shell would (its own process), on a private port. */
  function startFirstCommand(
    env: Record<string, string>,
    options: { detached?: boolean } = {},
  ): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
    const child = spawn(startCommand, [], {
      cwd: root,
      env: { ...BASE_ENV, ADMIN_PORT: '0', ...env },
      detached: options.detached ?? false,
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
    child.stdout?.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, stderr: () => stderr, exited };
  }

  /** Processes still running with `marker` in their environment (an orphaned bin would be one). */
  function processesWith(marker: string): number[] {
    const found: number[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) found.push(Number(entry));
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
    return found;
  }

  test("is the clone's own script, and the documented exit code of a stop is 0", () => {
    expect(startCommand).toBe('./wasm-pipes');
    expect(fs.statSync(path.join(root, startCommand)).mode & 0o111).not.toBe(0);
    expect(documentedExit).toBe(0);
    expect(readme).toContain('exits 0');
  });

  test('a first start killed within 2 s on a fresh npm cache starts again, and works', async () => {
    const npmCache = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-npm-cache-'));
    try {
      const port = await freePort();
      const env = { npm_config_cache: npmCache, SOURCE_URI: `http://127.0.0.1:${port}/events` };
      const first = startFirstCommand(env);
      await new Promise((resolve) => setTimeout(resolve, 300));
      first.child.kill('SIGKILL');
      await first.exited;
      const again = startFirstCommand(env);
      await waitFor(() => again.stderr().includes('wasm-pipes started'), 'the second start', 20_000);
      const response = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body: '{"again":true}' });
      expect(response.status).toBe(200);
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(documentedExit);
      // nothing of npm was involved: its cache is as empty as it was made
      expect(fs.readdirSync(npmCache)).toEqual([]);
    } finally {
      fs.rmSync(npmCache, { recursive: true, force: true });
    }
  });

  test.each([
    ['SIGTERM to the PID the user started', false],
    ['Ctrl-C (SIGINT to the foreground process group, as a terminal sends it)', true],
  ])('%s stops the bin itself with the documented exit code, leaving no process behind', async (_name, asTerminal) => {
    const port = await freePort();
    const marker = `WASM_PIPES_TEST_MARKER=${uniqueName('stop')}`;
    const [name, value] = marker.split('=');
    const run = startFirstCommand({ SOURCE_URI: `http://127.0.0.1:${port}/events`, [name]: value }, { detached: asTerminal });
    await waitFor(() => run.stderr().includes('wasm-pipes started'), 'the bin to start', 20_000);
    const pid = run.child.pid as number;
    // the script exec'd node: the PID the user holds is the bin's
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('dist/bin/wasm-pipes.js');
    expect(processesWith(marker)).toEqual([pid]);
    if (asTerminal) process.kill(-pid, 'SIGINT');
    else process.kill(pid, 'SIGTERM');
    expect(await run.exited).toBe(documentedExit);
    expect(run.stderr()).toContain(`received ${asTerminal ? 'SIGINT' : 'SIGTERM'}: draining`);
    expect(run.stderr()).not.toMatch(/received SIG\w+ again/);
    expect(processesWith(marker)).toEqual([]);
  });

  test("the tour's stdin example runs as written", () => {
    const command = /^(printf .* \| SOURCE_URI=stdin:\/\/ SINK_URI=stdout:\/\/ \.\/wasm-pipes)$/m.exec(readme)?.[1];
    expect(command).toBeDefined();
    const result = spawnSync('bash', ['-c', command as string], {
      cwd: root,
      env: { ...BASE_ENV, ADMIN_PORT: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(0);
    expect(envelopeBodies(result.stdout)).toEqual(['hello', 'world']);
  });

  test('without a build, the script says to run npm install, and exits 2', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-unbuilt-'));
    try {
      fs.copyFileSync(path.join(root, startCommand), path.join(dir, 'wasm-pipes'));
      fs.chmodSync(path.join(dir, 'wasm-pipes'), 0o755);
      const result = spawnSync(path.join(dir, 'wasm-pipes'), [], { env: BASE_ENV, encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('is missing; run npm install');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
