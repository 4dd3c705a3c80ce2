// The package as users get it: `npm pack`, then the tarball installed into an empty project (offline, from the npm
// cache that `npm ci` filled, through a lockfile made from the project's own), run as its bin. It ships what users
// run and no test or benchmark code; broker clients are optional peers, and a scheme whose client is missing stops
// the start with exit 2 and the npm command that installs it.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

/**
 * The entries of the project's lockfile that `dependencies` need (each found where Node would find it from its
 * dependent), so that the temporary project installs exactly the versions this clone was tested with, offline.
 */
function lockClosure(dependencies: Record<string, string>): Record<string, LockEntry> {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const picked: Record<string, LockEntry> = {};
  const visit = (from: string, name: string, optional: boolean): void => {
    let base = from;
    for (;;) {
      const location = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
      const entry = lock.packages[location];
      if (entry !== undefined) {
        if (picked[location] !== undefined) return;
        const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
        picked[location] = kept;
        for (const dependency of Object.keys(entry.dependencies ?? {})) visit(location, dependency, false);
        for (const dependency of Object.keys(entry.optionalDependencies ?? {})) visit(location, dependency, true);
        for (const dependency of Object.keys(entry.peerDependencies ?? {})) {
          if (entry.peerDependenciesMeta?.[dependency]?.optional !== true) visit(location, dependency, false);
        }
        return;
      }
      if (base === '') break;
      const up = base.lastIndexOf('/node_modules/');
      base = up === -1 ? '' : base.slice(0, up);
    }
    if (!optional) throw new Error(`${name} (needed by ${from || 'the package'}) is not in package-lock.json`);
  };
  for (const name of Object.keys(dependencies)) visit('', name, false);
  return picked;
}

function directorySize(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += directorySize(full);
    else if (entry.isFile()) total += fs.statSync(full).size;
  }
  return total;
}

describe('the npm package', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-package-'));
  let tarball: string;
  let files: string[];
  let installed: string;

  beforeAll(() => {
    // `npm test` has just built dist/; --ignore-scripts packs that build instead of building again
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }),
    ) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(work, packed[0].filename);
    files = packed[0].files.map((file) => file.path);

    installed = path.join(work, 'project');
    fs.mkdirSync(installed);
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as {
      version: string;
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      bin: Record<string, string>;
    };
    const spec = `file:${path.relative(installed, tarball)}`;
    fs.writeFileSync(
      path.join(installed, 'package.json'),
      JSON.stringify({ name: 'user-project', version: '1.0.0', private: true, dependencies: { 'wasm-pipes': spec } }),
    );
    const lock = {
      name: 'user-project',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': { name: 'user-project', version: '1.0.0', dependencies: { 'wasm-pipes': spec } },
        'node_modules/wasm-pipes': {
          version: manifest.version,
          resolved: spec,
          license: 'MIT',
          dependencies: manifest.dependencies,
          peerDependencies: manifest.peerDependencies,
          peerDependenciesMeta: manifest.peerDependenciesMeta,
          bin: manifest.bin,
        },
        ...lockClosure(manifest.dependencies),
      },
    };
    fs.writeFileSync(path.join(installed, 'package-lock.json'), JSON.stringify(lock, null, 2));
    execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
      cwd: installed,
      stdio: 'pipe',
    });
  }, 180_000);

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('ships the compiled library, operators and bin, the SDK, the docs, the README and the LICENSE; no tests or benchmarks', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'package.json',
        'dist/bin/wasm-pipes.js',
        'dist/lib/index.js',
        'dist/operators/index.js',
        'sdk/ABI.md',
        'docs/configuration.md',
      ]),
    );
    expect(files.filter((file) => /^dist\/(test|bench|examples)\//.test(file))).toEqual([]);
    expect(
      files.filter(
        (file) => !/^(dist\/(lib|operators|bin)|sdk|docs)\//.test(file) && !['LICENSE', 'README.md', 'package.json'].includes(file),
      ),
    ).toEqual([]);
  });

  test('every source map in the package is whole: its sources are inside it, and every map a file points to is shipped', () => {
    const root = path.join(installed, 'node_modules/wasm-pipes');
    const maps = files.filter((file) => file.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const file of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect({
        file,
        content:
          map.sourcesContent?.length === map.sources.length &&
          map.sourcesContent.every((text) => typeof text === 'string' && text.length > 0),
      }).toEqual({ file, content: true });
    }
    for (const file of files.filter((name) => name.endsWith('.js'))) {
      const pointer = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(fs.readFileSync(path.join(root, file), 'utf8'))?.[1];
      if (pointer !== undefined) expect(files).toContain(path.posix.join(path.posix.dirname(file), pointer));
    }
  });

  test('the installed bin relays stdin:// to stdout://, and refuses kafka:// with exit 2 and the npm command to install kafkajs', () => {
    const bin = path.join(installed, 'node_modules/.bin/wasm-pipes');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ADMIN_PORT: '0', LOG_LEVEL: 'warn' };
    const run = (args: string[], extraEnv: Record<string, string> = {}, input = ''): SpawnSyncReturns<string> =>
      spawnSync(bin, args, { cwd: installed, env: { ...env, ...extraEnv }, input, encoding: 'utf8', timeout: 30_000 });

    const relay = run([], { SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines' }, 'hello\nworld\n');
    expect({ status: relay.status, stdout: relay.stdout, stderr: relay.stderr }).toEqual({
      status: 0,
      stdout: 'hello\nworld\n',
      stderr: '',
    });

    const kafka = run([], { SOURCE_URI: 'stdin://', SINK_URI: 'kafka://x' });
    expect(kafka.status).toBe(2);
    expect(kafka.stderr.trim()).toBe(
      'wasm-pipes: SINK_URI: kafka:// needs the package kafkajs, which is not installed: run `npm install kafkajs`',
    );

    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/kafka:\/\/.*not installed: run `npm install kafkajs`/);
    expect(help.stdout).toMatch(/stdin:\/\/.*source/);
  });

  test('no broker client is installed with the package', () => {
    const modules = path.join(installed, 'node_modules');
    for (const client of [
      'kafkajs',
      'amqplib',
      'ioredis',
      '@azure/service-bus',
      '@google-cloud/pubsub',
      '@aws-sdk/client-sqs',
      '@nats-io/transport-node',
    ]) {
      expect({ client, installed: fs.existsSync(path.join(modules, client)) }).toEqual({ client, installed: false });
    }
    // well below the 288 MB that came with every client
    expect(directorySize(modules)).toBeLessThan(200 * 1024 * 1024);
  });
});
