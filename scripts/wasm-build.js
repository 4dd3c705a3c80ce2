#!/usr/bin/env node
// Builds WebAssembly modules from source (AssemblyScript, WAT, C, Rust) for the examples, the tests and the
// benchmarks. Each result is cached under .cache/wasm/ by a hash of its sources, flags and compiler, so a second
// build is instant and parallel test workers share the work.
//
//   node scripts/wasm-build.js                    builds every example into examples/<name>/<name>.wasm
//   node scripts/wasm-build.js my/module.ts       builds that module into my/module.wasm, by its extension:
//                                                 .ts AssemblyScript, .wat WAT, .c C, .rs Rust, a folder with
//                                                 Cargo.toml a Rust crate; several files build each one
//   node scripts/wasm-build.js m.c --wasi -o out.wasm   C or Rust for wasm32-wasi; -o names the output of one file
//   node scripts/wasm-build.js --check            reports which toolchains are missing
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(ROOT, '.cache', 'wasm');
/** Debian's rustc has the wasm32 target (libstd-rust-dev-wasm32); a rustup rustc earlier on PATH may not. */
const RUSTC = process.env.WASM_PIPES_RUSTC || '/usr/bin/rustc';
const CLANG = process.env.WASM_PIPES_CLANG || 'clang';
/** Debian's cargo (package cargo) matches Debian's rustc; a rustup cargo first on PATH passes flags rustc 1.63 lacks. */
const CARGO = process.env.WASM_PIPES_CARGO || '/usr/bin/cargo';

/** The examples: name, language, source (relative to examples/<name>/), and for C the exports. */
const EXAMPLES = [
  { name: 'uppercase', lang: 'as', source: 'uppercase.ts' },
  { name: 'redact', lang: 'rust', source: 'redact.rs' },
  { name: 'threshold', lang: 'c', source: 'threshold.c', exports: ['alloc', 'filter'] },
  { name: 'split', lang: 'as', source: 'split.ts' },
  { name: 'enrich', lang: 'as', source: 'enrich.ts' },
  { name: 'drop-empty', lang: 'wat', source: 'drop-empty.wat' },
];

function hashFiles(parts, files) {
  const hash = crypto.createHash('sha256');
  for (const part of parts) hash.update(String(part)).update('\0');
  for (const file of files) hash.update(file).update('\0').update(fs.readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 24);
}

function listDir(dir, extension) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(extension))
    .sort()
    .map((name) => path.join(dir, name));
}

function atomicWrite(file, bytes) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(temporary, bytes);
  fs.renameSync(temporary, file);
}

async function compile(spec, output) {
  const source = path.resolve(spec.source);
  switch (spec.lang) {
    case 'as': {
      const asc = path.join(ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
      const flags = spec.flags || ['-O3', '--runtime', 'incremental'];
      await run(process.execPath, [asc, source, '-o', output, ...flags], { cwd: ROOT });
      return;
    }
    case 'wat': {
      const wabt = await require('wabt')();
      const parsed = wabt.parseWat(path.basename(source), fs.readFileSync(source, 'utf8'), { mutable_globals: true, bulk_memory: true });
      try {
        parsed.resolveNames();
        parsed.validate();
        atomicWrite(output, Buffer.from(parsed.toBinary({}).buffer));
      } finally {
        parsed.destroy();
      }
      return;
    }
    case 'c': {
      const exports = (spec.exports || []).map((name) => `-Wl,--export=${name}`);
      await run(CLANG, [
        '--target=wasm32',
        '-O2',
        '-nostdlib',
        '-ffreestanding',
        '-mbulk-memory',
        '-Wl,--no-entry',
        '-Wl,--allow-undefined',
        ...exports,
        `-I${path.join(ROOT, 'sdk', 'c')}`,
        '-o',
        output,
        source,
      ]);
      return;
    }
    case 'c-wasi': {
      // wasi-libc (Debian package wasi-libc) and clang's wasm32 builtins (libclang-rt-14-dev-wasm32); a reactor, so
      // that the host can call the module once per message after its constructors ran (_initialize)
      await run(CLANG, [
        '--target=wasm32-wasi',
        '-O2',
        '-mexec-model=reactor',
        '-Wl,--strip-all',
        `-I${path.join(ROOT, 'sdk', 'c')}`,
        '-o',
        output,
        source,
      ]);
      return;
    }
    case 'rust-crate': {
      // a cargo crate (source: its folder); offline, with Debian's cargo and rustc; the target folder in the cache
      const target = spec.target || 'wasm32-unknown-unknown';
      const targetDir = path.join(CACHE, 'cargo-target');
      await run(CARGO, ['build', '--offline', '--release', '--target', target, '--manifest-path', path.join(source, 'Cargo.toml')], {
        env: { ...process.env, RUSTC, CARGO_TARGET_DIR: targetDir },
      });
      const manifest = fs.readFileSync(path.join(source, 'Cargo.toml'), 'utf8');
      const crate = /^\s*name\s*=\s*"([^"]+)"/m.exec(manifest)[1].replace(/-/g, '_');
      fs.copyFileSync(path.join(targetDir, target, 'release', `${crate}.wasm`), output);
      return;
    }
    case 'rust':
    case 'rust-wasi': {
      // one source file as a cdylib: bare wasm32, or on WASI (Rust's std on wasi-libc)
      const target = spec.lang === 'rust-wasi' ? 'wasm32-wasi' : 'wasm32-unknown-unknown';
      await run(RUSTC, [
        '--target',
        target,
        '--crate-type',
        'cdylib',
        '--edition',
        '2021',
        '-C',
        'opt-level=3',
        '-C',
        'panic=abort',
        '-C',
        'strip=debuginfo',
        '-o',
        output,
        source,
      ]);
      return;
    }
    default:
      throw new Error(`unknown language ${spec.lang}`);
  }
}

function listTree(dir) {
  if (!fs.existsSync(dir)) return [];
  const files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === 'target' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...listTree(full));
    else if (/\.(rs|toml)$/.test(entry.name)) files.push(full);
  }
  return files;
}

function inputsOf(spec) {
  const source = path.resolve(spec.source);
  if (spec.lang === 'rust-crate') return [...listTree(source), ...listTree(path.join(ROOT, 'sdk', 'rust'))];
  const files = [source];
  if (spec.lang === 'as') files.push(...listDir(path.join(ROOT, 'sdk', 'assemblyscript'), '.ts'));
  if (spec.lang === 'c' || spec.lang === 'c-wasi') files.push(...listDir(path.join(ROOT, 'sdk', 'c'), '.h'));
  const sibling = path.dirname(source);
  for (const file of listDir(sibling, path.extname(source))) if (!files.includes(file)) files.push(file);
  return files;
}

function toolVersion(lang) {
  if (lang === 'as') return require('assemblyscript/package.json').version;
  if (lang === 'wat') return require('wabt/package.json').version;
  if (lang === 'rust-crate') return `${CARGO} ${RUSTC}`;
  return lang === 'c' || lang === 'c-wasi' ? CLANG : RUSTC;
}

/**
 * Builds `spec` ({ lang: 'as'|'wat'|'c'|'rust', source, flags?, exports? }) and returns the path of the .wasm in
 * the cache (copied to `spec.out` too when given).
 */
async function build(spec) {
  const key = hashFiles(
    [spec.lang, toolVersion(spec.lang), JSON.stringify(spec.flags || []), JSON.stringify(spec.exports || []), spec.target || ''],
    inputsOf(spec),
  );
  const cached = path.join(CACHE, `${path.basename(spec.source).replace(/\.[^.]+$/, '')}-${key}.wasm`);
  if (!fs.existsSync(cached)) {
    const temporary = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}.wasm`;
    fs.mkdirSync(CACHE, { recursive: true });
    try {
      await compile(spec, temporary);
    } catch (error) {
      const detail = [error.stderr, error.stdout].filter(Boolean).join('\n').trim();
      throw new Error(
        `building ${path.relative(ROOT, path.resolve(spec.source))} (${spec.lang}) failed: ${error.message}${detail ? `\n${detail}` : ''}`,
        { cause: error },
      );
    }
    fs.renameSync(temporary, cached);
  }
  if (spec.out) atomicWrite(spec.out, fs.readFileSync(cached));
  return cached;
}

/** Builds every example into examples/<name>/<name>.wasm. */
async function buildExamples() {
  const built = [];
  for (const example of EXAMPLES) {
    const dir = path.join(ROOT, 'examples', example.name);
    const out = path.join(dir, `${example.name}.wasm`);
    await build({ ...example, source: path.join(dir, example.source), out });
    built.push(path.relative(ROOT, out));
  }
  return built;
}

/** The language of a source file or folder, by its extension (a folder with Cargo.toml is a Rust crate). */
function languageOf(file, wasi) {
  if (fs.existsSync(path.join(file, 'Cargo.toml'))) return 'rust-crate';
  const extension = path.extname(file).toLowerCase();
  const lang = { '.ts': 'as', '.wat': 'wat', '.c': 'c', '.rs': 'rust' }[extension];
  if (lang === undefined)
    throw new Error(`${file}: cannot tell its language; name a .ts (AssemblyScript), .wat, .c or .rs file, or a Rust crate's folder`);
  if (wasi && lang === 'c') return 'c-wasi';
  if (wasi && lang === 'rust') return 'rust-wasi';
  if (wasi) throw new Error(`${file}: --wasi is for C and Rust`);
  return lang;
}

/** Builds the files named on the command line: each next to its source (`m.ts` -> `m.wasm`), or into -o. */
async function buildFiles(args) {
  const files = [];
  let out;
  let wasi = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-o' || args[i] === '--out') out = args[++i];
    else if (args[i] === '--wasi') wasi = true;
    else if (args[i].startsWith('-'))
      throw new Error(`unknown option ${args[i]}; usage: node scripts/wasm-build.js [FILE...] [--wasi] [-o OUT.wasm]`);
    else files.push(args[i]);
  }
  if (out !== undefined && files.length !== 1) throw new Error('-o names the output of one file; give exactly one file with it');
  const built = [];
  for (const file of files) {
    const source = path.resolve(file);
    if (!fs.existsSync(source)) throw new Error(`${file}: no such file`);
    const lang = languageOf(source, wasi);
    const target = lang === 'rust-crate' && wasi ? 'wasm32-wasi' : undefined;
    const output = path.resolve(
      out ?? (lang === 'rust-crate' ? path.join(source, `${path.basename(source)}.wasm`) : source.replace(/\.[^./]+$/, '.wasm')),
    );
    await build({ lang, source, out: output, ...(target ? { target } : {}) });
    built.push(path.relative(process.cwd(), output) || output);
  }
  return built;
}

/** Which toolchains are here: one line each, and whether all are. */
async function check() {
  const probes = [
    ['AssemblyScript (npm assemblyscript)', async () => require.resolve('assemblyscript/package.json')],
    ['WAT (npm wabt)', async () => require.resolve('wabt/package.json')],
    ['C (Debian clang lld)', () => run(CLANG, ['--version'])],
    [
      'C for WASI (Debian wasi-libc libclang-rt-14-dev-wasm32)',
      async () => {
        if (!fs.existsSync('/usr/include/wasm32-wasi/stdio.h')) throw new Error('no /usr/include/wasm32-wasi/stdio.h');
      },
    ],
    [
      'Rust (Debian rustc libstd-rust-dev-wasm32)',
      async () => {
        const { stdout } = await run(RUSTC, ['--print', 'sysroot']);
        if (!fs.existsSync(path.join(stdout.trim(), 'lib', 'rustlib', 'wasm32-unknown-unknown')))
          throw new Error(`${RUSTC} has no wasm32 standard library`);
      },
    ],
    ['Rust crates (Debian cargo)', () => run(CARGO, ['--version'])],
  ];
  let missing = 0;
  for (const [name, probe] of probes) {
    try {
      await probe();
      console.log(`ok       ${name}`);
    } catch (error) {
      missing++;
      console.log(`MISSING  ${name}: ${error.message.split('\n')[0]}`);
    }
  }
  return missing === 0;
}

module.exports = { build, buildExamples, buildFiles, check, EXAMPLES, RUSTC, CLANG, CARGO, ROOT };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--check') {
    check().then((ok) => process.exit(ok ? 0 : 1));
    return;
  }
  (args.length > 0 ? buildFiles(args) : buildExamples()).then(
    (built) => console.log(`built ${built.join(', ')}`),
    (error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
