#!/usr/bin/env node
// Builds WebAssembly modules from source (AssemblyScript, WAT, C, Rust) for the examples, the tests and the
// benchmarks. Each result is cached under .cache/wasm/ by a hash of its sources, flags and compiler, so a second
// build is instant and parallel test workers share the work.
//
//   node scripts/wasm-build.js            builds every example into examples/<name>/<name>.wasm
//   node scripts/wasm-build.js --check    reports which toolchains are missing
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
        '--target=wasm32', '-O2', '-nostdlib', '-ffreestanding', '-Wl,--no-entry', '-Wl,--allow-undefined',
        ...exports, `-I${path.join(ROOT, 'sdk', 'c')}`, '-o', output, source,
      ]);
      return;
    }
    case 'rust': {
      await run(RUSTC, [
        '--target', 'wasm32-unknown-unknown', '--crate-type', 'cdylib', '--edition', '2021',
        '-C', 'opt-level=3', '-C', 'panic=abort', '-C', 'strip=debuginfo', '-o', output, source,
      ]);
      return;
    }
    default:
      throw new Error(`unknown language ${spec.lang}`);
  }
}

function inputsOf(spec) {
  const source = path.resolve(spec.source);
  const files = [source];
  if (spec.lang === 'as') files.push(...listDir(path.join(ROOT, 'sdk', 'assemblyscript'), '.ts'));
  if (spec.lang === 'c') files.push(...listDir(path.join(ROOT, 'sdk', 'c'), '.h'));
  const sibling = path.dirname(source);
  for (const file of listDir(sibling, path.extname(source))) if (!files.includes(file)) files.push(file);
  return files;
}

function toolVersion(lang) {
  if (lang === 'as') return require('assemblyscript/package.json').version;
  if (lang === 'wat') return require('wabt/package.json').version;
  return lang === 'c' ? CLANG : RUSTC;
}

/**
 * Builds `spec` ({ lang: 'as'|'wat'|'c'|'rust', source, flags?, exports? }) and returns the path of the .wasm in
 * the cache (copied to `spec.out` too when given).
 */
async function build(spec) {
  const key = hashFiles([spec.lang, toolVersion(spec.lang), JSON.stringify(spec.flags || []), JSON.stringify(spec.exports || [])], inputsOf(spec));
  const cached = path.join(CACHE, `${path.basename(spec.source).replace(/\.[^.]+$/, '')}-${key}.wasm`);
  if (!fs.existsSync(cached)) {
    const temporary = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}.wasm`;
    fs.mkdirSync(CACHE, { recursive: true });
    try {
      await compile(spec, temporary);
    } catch (error) {
      const detail = [error.stderr, error.stdout].filter(Boolean).join('\n').trim();
      throw new Error(`building ${path.relative(ROOT, path.resolve(spec.source))} (${spec.lang}) failed: ${error.message}${detail ? `\n${detail}` : ''}`);
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

module.exports = { build, buildExamples, EXAMPLES, RUSTC, CLANG, ROOT };

if (require.main === module) {
  buildExamples().then(
    (built) => console.log(`built ${built.join(', ')}`),
    (error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
