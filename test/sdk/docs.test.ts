// Docs that work as written: every build command of sdk/ABI.md, sdk/TESTING.md, sdk/rust/README.md and docs/wasm.md
// (the ```sh blocks) is run as written, after the code block it builds is saved under the name the text gives it
// ("save this as `m.c`"); each module it builds must load. Commands that name files of the repository run from its
// root; the others from a project folder that has wasm-pipes installed (node_modules/wasm-pipes) and `sdk` linked,
// as the docs say. No build command is left in the prose alone, outside a block that runs (TinyGo aside: not a
// Debian package).
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { loadWasm } from '../../lib/wasm/load';
import { ROOT } from './helpers';

const PROJECT = path.join(ROOT, '.cache', 'sdk-tests', `docs-${process.pid}-${Date.now().toString(36)}`);
const DOCS = ['sdk/ABI.md', 'sdk/TESTING.md', 'sdk/rust/README.md', 'sdk/README.md', 'docs/wasm.md'];

interface Block {
  lang: string;
  body: string;
  /** The file the text before the block says to save it as. */
  file?: string;
}

/** The fenced blocks of a markdown file, with the file name the prose before each one gives it. */
function blocks(markdown: string): Block[] {
  const found: Block[] = [];
  const fence = /```([a-z]*)\n([\s\S]*?)```/g;
  let last = 0;
  for (let match = fence.exec(markdown); match !== null; match = fence.exec(markdown)) {
    const prose = markdown.slice(last, match.index);
    const named = [...prose.matchAll(/(?:save|and)\s+this\s+as\s+`([^`]+)`/gi)].pop();
    found.push({ lang: match[1], body: match[2], ...(named === undefined ? {} : { file: named[1] }) });
    last = match.index + match[0].length;
  }
  return found;
}

/** Build commands written in the prose (inline code), which must each be a line of a block that runs. */
function inlineCommands(markdown: string): string[] {
  const prose = markdown.replace(/```[a-z]*\n[\s\S]*?```/g, '');
  const command = /`((?:clang|\/usr\/bin\/rustc|rustc) -[^`]*|(?:\/usr\/bin\/cargo|cargo) build[^`]*|npx (?:asc|wat2wasm) [^`]*|node scripts\/wasm-build\.js[^`]*|RUSTC=[^`]*)`/g;
  return [...prose.matchAll(command)].map((match) => match[1]);
}

function shell(script: string, cwd: string): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-ec', script], { cwd, env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, output: `${stdout}${stderr}` });
    });
  });
}

beforeAll(() => {
  // a project with wasm-pipes installed (as npm would link a local package) and its compilers, and `sdk` at hand
  fs.mkdirSync(path.join(PROJECT, 'node_modules'), { recursive: true });
  fs.writeFileSync(path.join(PROJECT, 'package.json'), '{ "private": true }\n');
  fs.symlinkSync(ROOT, path.join(PROJECT, 'node_modules', 'wasm-pipes'));
  for (const name of ['assemblyscript', 'wabt', '.bin']) fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(PROJECT, 'node_modules', name));
  fs.symlinkSync(path.join(ROOT, 'sdk'), path.join(PROJECT, 'sdk'));
  fs.rmSync(path.join(ROOT, '.cache', 'demo'), { recursive: true, force: true }); // docs/wasm.md's demo
});

afterAll(() => {
  fs.rmSync(PROJECT, { recursive: true, force: true });
  fs.rmSync(path.join(ROOT, '.cache', 'demo'), { recursive: true, force: true });
});

describe.each(DOCS)('%s', (doc) => {
  const markdown = fs.readFileSync(path.join(ROOT, doc), 'utf8');
  const all = blocks(markdown);
  const scripts = all.filter((block) => block.lang === 'sh');

  test('every build command in its text is one of its sh blocks, which run', () => {
    const lines = new Set(scripts.flatMap((block) => block.body.split('\n').map((line) => line.trim())));
    expect(inlineCommands(markdown).filter((command) => !lines.has(command.trim()))).toEqual([]);
  });

  if (scripts.length === 0) return;

  test('its sh blocks run as written and build modules that load', async () => {
    let since = 0;
    for (const block of all) {
      if (block.lang !== 'sh') continue;
      const index = all.indexOf(block);
      // the sources a build reads (a pipeline's .mjs, shown to be run by hand, is not one)
      const sources = all.slice(since, index).filter((source) => source.file !== undefined && ['ts', 'c', 'rust', 'wat', 'toml'].includes(source.lang));
      since = index + 1;
      const inRepository = /(^|\s)(\.\/wasm-pipes|examples\/|scripts\/|npm run)/m.test(block.body);
      const cwd = inRepository ? ROOT : PROJECT;
      for (const source of sources) {
        const file = path.join(cwd, source.file as string);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, source.body);
      }
      const run = await shell(block.body, cwd);
      if (run.status !== 0) throw new Error(`${doc}: this block failed (exit ${run.status}):\n${block.body}\n${run.output}`);
      for (const output of [...block.body.matchAll(/(?:-o|cp \S+) (\S+\.wasm)/g)].map((match) => match[1])) {
        await expect(loadWasm(path.join(cwd, output))).resolves.toBeDefined();
      }
    }
  }, 300_000); // every compiler of the kit
});

test("sdk/TESTING.md's example case file is examples/redact/redact.cases.json, which its command runs", () => {
  const shown = blocks(fs.readFileSync(path.join(ROOT, 'sdk/TESTING.md'), 'utf8')).find((block) => block.lang === 'json');
  expect(JSON.parse(shown?.body ?? 'null')).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/redact/redact.cases.json'), 'utf8')));
});
