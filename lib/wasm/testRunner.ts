// The module author's test loop: runs a module (or a chain of modules) on declared cases, without any broker, through
// the same operators the pipelines use, and compares what came out with what each case expects. `wasm-pipes test`
// (bin/commands/test.ts) and testModule() for jest users both use it; the case file format is in sdk/TESTING.md.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { from } from 'rxjs';
import { Message } from '../message';
import { MemoryCache } from '../cache/memory';
import { ConfigError } from '../errors';
import { createLogger, type Logger } from '../logging/logger';
import { loadWasm, WasmModule, type WasmSource } from './load';
import { wasmOperator } from './stage';

/** A body in a case: plain text, any JSON value (compared as JSON), or bytes in base64. */
export interface BodySpec {
  body?: string;
  json?: unknown;
  base64?: string;
}

/** What a case sends: a string is the body. */
export interface CaseInput extends BodySpec {
  id?: string;
  key?: string;
  metadata?: Record<string, string>;
}

/** One output a case expects. `key: null` expects no key; a metadata value `null` expects that name to be absent. */
export interface ExpectedOutput extends BodySpec {
  key?: string | null;
  /** Only the names given are checked (the input's metadata passes through unless the module changes it). */
  metadata?: Record<string, string | null>;
}

/**
 * What a case expects: the outputs in order (a string is an output with that body); `"dropped"` (no output: a filter said 0, or a transform emitted nothing);
 * `"kept"` (one output, the input's body unchanged); or `{ fails: "text" }` (the message fails with an error whose
 * message contains the text, or matches it when written as `/regex/`).
 */
export type Expectation = 'dropped' | 'kept' | (ExpectedOutput | string)[] | { fails: string };

/** A value in the cache before a case runs, or expected after it: text, or `{ json }` / `{ base64 }`; null = absent. */
export type CacheValue = string | BodySpec;

export interface TestCase {
  name?: string;
  input: string | CaseInput;
  /** Configuration for config_get, merged over the file's. */
  config?: Record<string, string>;
  /** Cache contents before the case, merged over the file's. */
  cache?: Record<string, CacheValue>;
  expect: Expectation;
  /** Cache entries expected after the case (null: absent). */
  cacheAfter?: Record<string, CacheValue | null>;
}

/** A case file (JSON): the module(s), defaults for every case, and the cases. */
export interface CaseFile {
  /** The module, or the chain of modules in order, relative to the case file. */
  module?: string | string[];
  config?: Record<string, string>;
  cache?: Record<string, CacheValue>;
  /** Fuel per message (default as in pipelines); `false` turns it off. */
  budget?: number | false;
  maxMemoryPages?: number;
  cases: TestCase[];
}

export interface TestModuleOptions {
  /** Configuration for every case (a case's own `config` is merged over it). */
  config?: Record<string, string>;
  /** Cache contents for every case (a case's own `cache` is merged over it). */
  cache?: Record<string, CacheValue>;
  budget?: number | false;
  maxMemoryPages?: number;
  /** Only the cases whose name contains this text. */
  only?: string;
  /** Where relative module paths of a case file are resolved; default the case file's folder. */
  baseDir?: string;
}

/** One output as it came out. */
export interface ActualOutput {
  id: string;
  body: Buffer;
  key: string | undefined;
  metadata: Readonly<Record<string, string>>;
}

export interface CaseResult {
  name: string;
  passed: boolean;
  /** Why it failed: readable lines, a diff for a body. */
  problems: string[];
  outputs: ActualOutput[];
  /** The error the message failed with, if it failed. */
  error?: string;
  /** What the module and the stage logged during the case (shown for failing cases). */
  logs: string[];
}

export interface TestReport {
  /** The modules, as named in reports. */
  modules: string[];
  results: CaseResult[];
  passed: number;
  failed: number;
  /** No case failed (and there was at least one). */
  ok: boolean;
  /** The report as `wasm-pipes test` prints it. */
  toString(): string;
}

const CASE_KEYS = new Set(['name', 'input', 'config', 'cache', 'expect', 'cacheAfter']);
const FILE_KEYS = new Set(['module', 'config', 'cache', 'budget', 'maxMemoryPages', 'cases', '$schema', 'description']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function bodyOf(spec: BodySpec | string, where: string): Buffer {
  if (typeof spec === 'string') return Buffer.from(spec, 'utf8');
  const given = (['body', 'json', 'base64'] as const).filter((name) => spec[name] !== undefined);
  if (given.length > 1) throw new ConfigError(`${where} gives ${given.join(' and ')}; give one of body, json or base64`);
  if (spec.json !== undefined) return Buffer.from(JSON.stringify(spec.json), 'utf8');
  if (spec.base64 !== undefined) return Buffer.from(spec.base64, 'base64');
  return Buffer.from(spec.body ?? '', 'utf8');
}

function stringRecord(value: unknown, where: string, nullable = false): void {
  if (value === undefined) return;
  if (!isRecord(value)) throw new ConfigError(`${where} must be an object of names to text values, for example {"field": "password"}`);
  for (const [name, item] of Object.entries(value)) {
    if (typeof item !== 'string' && !(nullable && item === null)) {
      throw new ConfigError(
        `${where}.${name} must be text${nullable ? ' or null' : ''}, not ${JSON.stringify(item)} (write numbers as "30")`,
      );
    }
  }
}

function cacheRecord(value: unknown, where: string, nullable: boolean): void {
  if (value === undefined) return;
  if (!isRecord(value))
    throw new ConfigError(`${where} must be an object of cache keys to values, for example {"profile:u1": {"json": {"tier": "gold"}}}`);
  for (const [name, item] of Object.entries(value)) {
    if (typeof item === 'string' || (nullable && item === null)) continue;
    if (!isRecord(item) || !Object.keys(item).every((key) => ['body', 'json', 'base64'].includes(key))) {
      throw new ConfigError(
        `${where}["${name}"] must be text or {"json": ...} or {"base64": "..."}${nullable ? ', or null for absent' : ''}`,
      );
    }
  }
}

/** Checks a case as read from JSON, naming what is wrong and what it should look like. */
function checkCase(raw: unknown, index: number): TestCase {
  const where = `case ${index + 1}`;
  if (!isRecord(raw))
    throw new ConfigError(`${where} must be an object like {"name": "...", "input": "hello", "expect": [{"body": "HELLO"}]}`);
  const label = typeof raw.name === 'string' ? `case "${raw.name}"` : where;
  for (const key of Object.keys(raw)) {
    if (!CASE_KEYS.has(key)) throw new ConfigError(`${label} has an unknown field '${key}'; a case has ${[...CASE_KEYS].join(', ')}`);
  }
  if (raw.input === undefined)
    throw new ConfigError(`${label} has no input; for example "input": "hello" or "input": {"body": "hello", "key": "k"}`);
  if (typeof raw.input !== 'string') {
    if (!isRecord(raw.input)) throw new ConfigError(`${label}: input must be text or an object with body/json/base64, key and metadata`);
    for (const key of Object.keys(raw.input)) {
      if (!['id', 'body', 'json', 'base64', 'key', 'metadata'].includes(key)) {
        throw new ConfigError(`${label}: input has an unknown field '${key}'; an input has body (or json or base64), key, metadata and id`);
      }
    }
    stringRecord(raw.input.metadata, `${label}: input.metadata`);
    bodyOf(raw.input, `${label}: input`);
  }
  const expectation = raw.expect;
  const expectHelp = 'expect is a list of outputs like [{"body": "HELLO"}], "dropped", "kept", or {"fails": "part of the error"}';
  if (expectation === undefined) throw new ConfigError(`${label} has no expect; ${expectHelp}`);
  if (Array.isArray(expectation)) {
    expectation.forEach((output, position) => {
      const at = `${label}: expect[${position}]`;
      if (typeof output === 'string') return;
      if (!isRecord(output)) throw new ConfigError(`${at} must be an object like {"body": "HELLO", "key": "k", "metadata": {"a": "b"}}`);
      for (const key of Object.keys(output)) {
        if (!['body', 'json', 'base64', 'key', 'metadata'].includes(key))
          throw new ConfigError(`${at} has an unknown field '${key}'; an output has body (or json or base64), key and metadata`);
      }
      if (output.key !== undefined && output.key !== null && typeof output.key !== 'string')
        throw new ConfigError(`${at}.key must be text, or null for no key`);
      stringRecord(output.metadata, `${at}.metadata`, true);
      bodyOf(output, at);
    });
    // a bare string in the list is the body of that output
    raw.expect = expectation.map((output: unknown) => (typeof output === 'string' ? { body: output } : output));
  } else if (isRecord(expectation)) {
    if (typeof expectation.fails !== 'string' || Object.keys(expectation).length !== 1) throw new ConfigError(`${label}: ${expectHelp}`);
  } else if (expectation !== 'dropped' && expectation !== 'kept') {
    throw new ConfigError(`${label}: ${expectHelp}, not ${JSON.stringify(expectation)}`);
  }
  stringRecord(raw.config, `${label}: config`);
  cacheRecord(raw.cache, `${label}: cache`, false);
  cacheRecord(raw.cacheAfter, `${label}: cacheAfter`, true);
  return raw as unknown as TestCase;
}

/** Reads and checks a case file; a mistake in it is a ConfigError naming the file and the fix. */
export function readCaseFile(file: string): CaseFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the case file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    return checkCaseFile(parsed);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${file}: ${error.message}`);
    throw error;
  }
}

/** Checks a case file's content (already parsed). */
export function checkCaseFile(parsed: unknown): CaseFile {
  if (!isRecord(parsed)) throw new ConfigError('a case file is a JSON object: {"module": "module.wasm", "cases": [...]}');
  for (const key of Object.keys(parsed)) {
    if (!FILE_KEYS.has(key))
      throw new ConfigError(`unknown field '${key}'; a case file has module, config, cache, budget, maxMemoryPages and cases`);
  }
  const module = parsed.module;
  if (
    module !== undefined &&
    typeof module !== 'string' &&
    !(Array.isArray(module) && module.length > 0 && module.every((item) => typeof item === 'string'))
  ) {
    throw new ConfigError('module must be a path ("module.wasm") or a list of paths for a chain (["filter.wasm", "redact.wasm"])');
  }
  if (!Array.isArray(parsed.cases) || parsed.cases.length === 0) throw new ConfigError('cases must be a non-empty list of cases');
  stringRecord(parsed.config, 'config');
  cacheRecord(parsed.cache, 'cache', false);
  if (parsed.budget !== undefined && parsed.budget !== false && typeof parsed.budget !== 'number')
    throw new ConfigError('budget must be a number of fuel units, or false');
  if (parsed.maxMemoryPages !== undefined && typeof parsed.maxMemoryPages !== 'number')
    throw new ConfigError('maxMemoryPages must be a number of 64 KiB pages');
  return { ...(parsed as unknown as CaseFile), cases: parsed.cases.map((raw, index) => checkCase(raw, index)) };
}

/** Log lines of one case, as `level message`. */
class CaseLog extends Writable {
  lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        const record = JSON.parse(line) as { level?: number; msg?: string };
        const level = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }[record.level ?? 30] ?? 'info';
        this.lines.push(`${level} ${record.msg ?? ''}`);
      } catch {
        this.lines.push(line);
      }
    }
    done();
  }
}

function quietLogger(destination: Writable): Logger {
  return createLogger({ level: 'debug', format: 'json', destination, env: {} });
}

function moduleName(source: WasmSource): string {
  if (source instanceof WasmModule) return source.name;
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  return 'module';
}

/**
 * Runs `cases` (a list, a case file's content, or the path of a case file) on a module or a chain of modules, and
 * reports each case. A module that does not load throws (WasmAbiError, ConfigError); a case that fails does not.
 *
 * @example
 * const report = await testModule('./redact.wasm', [
 *   { name: 'redacts', input: '{"password":"x"}', expect: [{ json: { password: '***' } }] },
 * ]);
 * expect(report.failed).toBe(0); // report.toString() shows a diff per failing case
 */
export async function testModule(
  module: WasmSource | readonly WasmSource[] | undefined,
  cases: readonly TestCase[] | CaseFile | string,
  options: TestModuleOptions = {},
): Promise<TestReport> {
  let file: CaseFile;
  let baseDir = options.baseDir ?? process.cwd();
  if (typeof cases === 'string') {
    file = readCaseFile(cases);
    baseDir = options.baseDir ?? path.dirname(path.resolve(cases));
  } else if (Array.isArray(cases)) {
    file = checkCaseFile({ cases: JSON.parse(JSON.stringify(cases)) as unknown });
  } else {
    file = checkCaseFile(JSON.parse(JSON.stringify(cases)) as unknown);
  }
  const named = module ?? (typeof file.module === 'string' ? [file.module] : file.module);
  if (named === undefined) {
    throw new ConfigError(
      'no module to test: name it in the case file ("module": "module.wasm") or give one (wasm-pipes test --module module.wasm)',
    );
  }
  const sources: WasmSource[] = Array.isArray(named) ? [...(named as WasmSource[])] : [named as WasmSource];
  const resolved = sources.map((source) =>
    typeof source === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? path.resolve(baseDir, source) : source,
  );
  const loadLog = new CaseLog();
  const budget = options.budget ?? file.budget;
  const maxMemoryPages = options.maxMemoryPages ?? file.maxMemoryPages;
  const modules = await Promise.all(
    resolved.map((source) => loadWasm(source, { budget, maxMemoryPages, logger: quietLogger(loadLog), variable: 'module' })),
  );
  const results: CaseResult[] = [];
  for (const [index, testCase] of file.cases.entries()) {
    const name = testCase.name ?? `case ${index + 1}`;
    if (options.only !== undefined && !name.includes(options.only)) continue;
    results.push(await runCase(modules, testCase, name, index, file, options));
  }
  const passed = results.filter((result) => result.passed).length;
  const report: TestReport = {
    modules: sources.map(moduleName),
    results,
    passed,
    failed: results.length - passed,
    ok: results.length > 0 && passed === results.length,
    toString: () => formatReport(report),
  };
  return report;
}

async function runCase(
  modules: WasmModule[],
  testCase: TestCase,
  name: string,
  index: number,
  file: CaseFile,
  options: TestModuleOptions,
): Promise<CaseResult> {
  const log = new CaseLog();
  const logger = quietLogger(log);
  const cache = new MemoryCache();
  for (const [key, value] of Object.entries({ ...file.cache, ...options.cache, ...testCase.cache })) {
    cache.sync.set(key, bodyOf(value, `cache["${key}"]`));
  }
  const config = { ...file.config, ...options.config, ...testCase.config };
  const input = typeof testCase.input === 'string' ? { body: testCase.input } : testCase.input;
  const outputs: ActualOutput[] = [];
  let settledError: Error | undefined;
  let settled = false;
  let streamError: Error | undefined;
  await new Promise<void>((resolve) => {
    let completed = false;
    const finish = (): void => {
      if (settled && completed) resolve();
    };
    const message = Message.create(
      { id: input.id ?? `case-${index + 1}`, body: bodyOf(input, `${name}: input`), key: input.key, metadata: { ...input.metadata } },
      (error) => {
        settled = true;
        settledError = error;
        finish();
      },
    );
    // no dead letter and no redelivery: a failed message is a nack, reported as the case's outcome
    const operators = modules.map((module) => wasmOperator('auto', module, { cache, config, logger }));
    const piped = operators.reduce((stream, operator) => stream.pipe(operator), from([message]));
    piped.subscribe({
      next: (output) => {
        outputs.push({ id: output.id, body: output.body, key: output.key, metadata: output.metadata });
        output.ack(); // as a sink that confirmed it
      },
      error: (error: unknown) => {
        streamError = error as Error;
        settled = completed = true;
        finish();
      },
      complete: () => {
        completed = true;
        if (!settled) {
          // everything here is synchronous (an in-memory cache): a message still open now was lost by the chain
          settled = true;
          settledError = new Error('the message was neither acked nor nacked when the chain completed');
        }
        finish();
      },
    });
  });
  if (streamError !== undefined) throw streamError;
  const problems = compare(testCase, input, outputs, settledError);
  for (const [key, expected] of Object.entries(testCase.cacheAfter ?? {})) {
    const actual = cache.sync.get(key);
    if (expected === null) {
      if (actual !== undefined) problems.push(`cache "${key}": expected absent, found ${showBytes(actual)}`);
      continue;
    }
    const wanted = bodyOf(expected, `cacheAfter["${key}"]`);
    if (actual === undefined) problems.push(`cache "${key}": expected ${showBytes(wanted)}, but it is absent`);
    else if (!sameBody(expected, wanted, actual)) problems.push(`cache "${key}":`, ...bodyDiff(expected, wanted, actual));
  }
  return {
    name,
    passed: problems.length === 0,
    problems,
    outputs,
    ...(settledError === undefined ? {} : { error: settledError.message }),
    logs: log.lines,
  };
}

function sameBody(spec: BodySpec | string, wanted: Buffer, actual: Buffer): boolean {
  if (typeof spec !== 'string' && spec.json !== undefined) {
    try {
      return isDeepStrictEqual(JSON.parse(actual.toString('utf8')), spec.json);
    } catch {
      return false;
    }
  }
  return wanted.equals(actual);
}

function compare(testCase: TestCase, input: CaseInput, outputs: ActualOutput[], error: Error | undefined): string[] {
  const expectation = testCase.expect;
  const problems: string[] = [];
  if (isRecord(expectation) && !Array.isArray(expectation)) {
    const wanted = expectation.fails;
    if (error === undefined) {
      problems.push(`expected the message to fail with "${wanted}", but it passed with ${count(outputs.length)}`);
      problems.push(...outputs.flatMap((output, i) => describeOutput(output, i)));
      return problems;
    }
    const regex = /^\/(.*)\/([a-z]*)$/s.exec(wanted);
    const matches = regex === null ? error.message.includes(wanted) : new RegExp(regex[1], regex[2]).test(error.message);
    if (!matches)
      problems.push(`expected the error to ${regex === null ? 'contain' : 'match'} "${wanted}"`, `  but it was: ${error.message}`);
    return problems;
  }
  if (error !== undefined) {
    problems.push(`the message failed: ${error.message}`);
    return problems;
  }
  if (expectation === 'dropped') {
    if (outputs.length > 0) {
      problems.push(`expected the message to be dropped, but it gave ${count(outputs.length)}`);
      problems.push(...outputs.flatMap((output, i) => describeOutput(output, i)));
    }
    return problems;
  }
  const expected: ExpectedOutput[] =
    expectation === 'kept' ? [{ base64: bodyOf(input, 'input').toString('base64') }] : (expectation as ExpectedOutput[]);
  if (outputs.length !== expected.length) {
    problems.push(
      expectation === 'kept'
        ? `expected the message to be kept, but it gave ${count(outputs.length)}`
        : `expected ${count(expected.length)}, got ${outputs.length}`,
    );
    problems.push(...outputs.flatMap((output, i) => describeOutput(output, i)));
    return problems;
  }
  expected.forEach((wanted, i) => {
    const actual = outputs[i];
    const label = expected.length === 1 ? 'output' : `output ${i + 1}`;
    const hasBody = wanted.body !== undefined || wanted.json !== undefined || wanted.base64 !== undefined;
    if (hasBody) {
      const bytes = bodyOf(wanted, label);
      if (!sameBody(wanted, bytes, actual.body)) {
        problems.push(expectation === 'kept' ? 'expected the body unchanged:' : `${label} body:`, ...bodyDiff(wanted, bytes, actual.body));
      }
    }
    if (wanted.key !== undefined && (wanted.key ?? undefined) !== actual.key) {
      problems.push(
        `${label} key: expected ${wanted.key === null ? 'no key' : JSON.stringify(wanted.key)}, got ${actual.key === undefined ? 'no key' : JSON.stringify(actual.key)}`,
      );
    }
    for (const [metaName, value] of Object.entries(wanted.metadata ?? {})) {
      const got = actual.metadata[metaName];
      if (value === null ? got !== undefined : got !== value) {
        problems.push(
          `${label} metadata "${metaName}": expected ${value === null ? 'absent' : JSON.stringify(value)}, got ${got === undefined ? 'absent' : JSON.stringify(got)}`,
        );
      }
    }
  });
  return problems;
}

function count(n: number): string {
  return n === 1 ? '1 output' : `${n} outputs`;
}

const SHOWN_BYTES = 400;

function printable(bytes: Buffer): boolean {
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) return false;
  // control characters other than tab, line feed, vertical tab, form feed and carriage return
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x08 || (code >= 0x0e && code <= 0x1f)) return false;
  }
  return true;
}

function showBytes(bytes: Buffer): string {
  if (!printable(bytes))
    return `<${bytes.length} bytes, base64 ${bytes.subarray(0, SHOWN_BYTES).toString('base64')}${bytes.length > SHOWN_BYTES ? '...' : ''}>`;
  const text = bytes.toString('utf8');
  return JSON.stringify(text.length > SHOWN_BYTES ? `${text.slice(0, SHOWN_BYTES)}...` : text);
}

function describeOutput(output: ActualOutput, index: number): string[] {
  const lines = [`  got output ${index + 1}: ${showBytes(output.body)}`];
  if (output.key !== undefined) lines.push(`    key ${JSON.stringify(output.key)}`);
  if (Object.keys(output.metadata).length > 0) lines.push(`    metadata ${JSON.stringify(output.metadata)}`);
  return lines;
}

/** Lines of a diff between expected and actual text: `-` expected, `+` actual, two spaces for lines in common. */
function lineDiff(expected: string[], actual: string[]): string[] {
  const n = expected.length;
  const m = actual.length;
  if (n * m > 250_000) return [...expected.map((line) => `- ${line}`), ...actual.map((line) => `+ ${line}`)];
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = expected[i] === actual[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      out.push(`  ${expected[i]}`);
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push(`- ${expected[i++]}`);
    } else {
      out.push(`+ ${actual[j++]}`);
    }
  }
  return out;
}

/** A readable difference between an expected and an actual body. */
function bodyDiff(spec: BodySpec | string, wanted: Buffer, actual: Buffer): string[] {
  if (typeof spec !== 'string' && spec.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(actual.toString('utf8'));
    } catch {
      return [`  expected JSON ${JSON.stringify(spec.json)}`, `  got ${showBytes(actual)}, which is not JSON`];
    }
    return lineDiff(JSON.stringify(spec.json, null, 2).split('\n'), JSON.stringify(parsed, null, 2).split('\n')).map((line) => `  ${line}`);
  }
  if (!printable(wanted) || !printable(actual)) return [`  - ${showBytes(wanted)}`, `  + ${showBytes(actual)}`];
  const expectedText = wanted.toString('utf8');
  const actualText = actual.toString('utf8');
  if (expectedText.includes('\n') || actualText.includes('\n')) {
    return lineDiff(expectedText.split('\n'), actualText.split('\n')).map((line) => `  ${line}`);
  }
  let at = 0;
  while (at < expectedText.length && expectedText[at] === actualText[at]) at++;
  const expectedShown = JSON.stringify(expectedText);
  const actualShown = JSON.stringify(actualText);
  const caret = JSON.stringify(expectedText.slice(0, at)).length - 1; // the opening quote is included, the closing one not
  const lines = [`  - ${expectedShown}`, `  + ${actualShown}`];
  if (expectedShown.length < 200 && actualShown.length < 200) lines.push(`    ${' '.repeat(caret)}^ first difference at character ${at}`);
  return lines;
}

/** The report as text: a line per case, a diff and the logs under each failing one, and a summary line. */
export function formatReport(report: TestReport, options: { color?: boolean; title?: string } = {}): string {
  const paint = (code: number, text: string): string => (options.color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const lines: string[] = [options.title ?? report.modules.join(' -> ')];
  for (const result of report.results) {
    if (result.passed) {
      lines.push(`  ${paint(32, 'ok')}    ${result.name}`);
      continue;
    }
    lines.push(`  ${paint(31, 'FAIL')}  ${result.name}`);
    for (const problem of result.problems) lines.push(`        ${problem}`);
    if (result.logs.length > 0) {
      lines.push('        logs:');
      for (const line of result.logs.slice(-20)) lines.push(`          ${line}`);
    }
  }
  const summary = `${report.results.length} case(s): ${report.passed} passed, ${report.failed} failed`;
  lines.push(report.failed > 0 || report.results.length === 0 ? paint(31, summary) : paint(32, summary));
  return `${lines.join('\n')}\n`;
}
