// A private PostgreSQL server for the tests that must not touch the shared one: initdb into a temporary directory
// with password (scram) authentication, started on a free port of 127.0.0.1 and stopped by its PID. PostgreSQL
// refuses to run as root, so both run as the `postgres` system user (setpriv execs, so the PID is the server's).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, stopChild, waitFor } from '../helpers/wait';

/** The directory of initdb and postgres: PG_BIN, else the newest /usr/lib/postgresql/<version>/bin. */
function binDirectory(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries: run npm run setup (it installs postgresql)');
  return path.join(root, versions[0], 'bin');
}

/** Runs as the postgres user when we are root (as the tests are on the development and CI machines). */
function asPostgres(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', command, ...args]];
}

export class PrivatePostgres {
  private constructor(
    readonly port: number,
    readonly password: string,
    private readonly child: ChildProcess,
    private readonly directory: string,
  ) {}

  static async start(password: string): Promise<PrivatePostgres> {
    const bin = binDirectory();
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-pg-'));
    const data = path.join(directory, 'data');
    const passwordFile = path.join(directory, 'password');
    fs.writeFileSync(passwordFile, `${password}\n`);
    if (process.getuid?.() === 0) spawnSync('chown', ['-R', 'postgres:postgres', directory]);
    const [initdb, initArgs] = asPostgres(path.join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=scram-sha-256',
      `--pwfile=${passwordFile}`,
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    const init = spawnSync(initdb, initArgs, { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    const port = await freePort();
    const [postgres, args] = asPostgres(path.join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      directory,
      '-c',
      'fsync=off',
    ]);
    const child = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr?.on('data', (chunk) => (log += String(chunk)));
    await waitFor(() => /ready to accept connections/.test(log) || child.exitCode !== null, 'the private postgres', 30_000);
    if (child.exitCode !== null) throw new Error(`postgres exited: ${log}`);
    return new PrivatePostgres(port, password, child, directory);
  }

  async stop(): Promise<void> {
    // SIGQUIT: immediate shutdown, enough for a throw-away cluster
    await stopChild(this.child, 'SIGQUIT');
    fs.rmSync(this.directory, { recursive: true, force: true });
  }
}
