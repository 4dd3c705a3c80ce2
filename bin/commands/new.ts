// `wasm-pipes new NAME --lang assemblyscript|c|rust|wat`: a folder with a module's source, its Makefile (no
// package.json: npx inside the folder then finds wasm-pipes and the compilers of the project around it), sample cases
// and a README, from the templates in sdk/templates/. It builds with the toolchain
// its README names and passes `wasm-pipes test` as it is.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../lib/errors';

export const description = 'create a module project: wasm-pipes new NAME --lang assemblyscript|c|rust|wat';

const LANGUAGES = ['assemblyscript', 'c', 'rust', 'wat'] as const;
type Language = (typeof LANGUAGES)[number];
const ALIASES: Record<string, Language> = {
  as: 'assemblyscript',
  assemblyscript: 'assemblyscript',
  c: 'c',
  rust: 'rust',
  rs: 'rust',
  wat: 'wat',
};

const USAGE =
  'usage: wasm-pipes new NAME [--lang assemblyscript|c|rust|wat] [--dir FOLDER]\n' +
  "  NAME    the module's name: lower-case letters, digits and dashes (demo, redact-ssn)\n" +
  '  --lang  its language (default assemblyscript)\n' +
  '  --dir   where to create it (default ./NAME); it must not exist or be empty\n';

/** The package's root: sdk/ and package.json are there (dist/bin/commands is three levels down once built). */
function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'sdk', 'ABI.md')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the wasm-pipes package (with sdk/) above ${__dirname}`);
}

function installedVersion(root: string, name: string): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(require.resolve(`${name}/package.json`, { paths: [root] })) as { version: string }).version;
  } catch {
    const declared = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> })
      .devDependencies;
    return declared?.[name] ?? 'latest';
  }
}

/**
 * How the new module reaches the SDK: the package path when wasm-pipes is installed in a node_modules folder above
 * it (AssemblyScript resolves packages there), else a relative path (inside a clone of the repository, where no
 * node_modules/wasm-pipes exists and `wasm-pipes/sdk/...` would not resolve).
 */
function sdkReference(root: string, target: string, language: Language): string {
  const sdk = path.join(root, 'sdk');
  const parent = path.dirname(root);
  if (language === 'assemblyscript' && path.basename(parent) === 'node_modules' && path.basename(root) === 'wasm-pipes') {
    let dir = target;
    while (dir !== path.dirname(dir)) {
      if (path.resolve(dir, 'node_modules') === parent) return 'wasm-pipes/sdk';
      dir = path.dirname(dir);
    }
  }
  const relative = path.relative(target, sdk).split(path.sep).join('/');
  return relative.startsWith('.') ? relative : `./${relative}`;
}

/** The sample cases of the new module, which its source passes as generated. */
function sampleCases(name: string, language: Language): unknown {
  const marked = language !== 'wat';
  return {
    module: `${name}.wasm`,
    cases: [
      {
        name: 'uppercases the body',
        input: 'hello, world',
        expect: [marked ? { body: 'HELLO, WORLD', metadata: { 'transformed-by': name } } : { body: 'HELLO, WORLD' }],
      },
      ...(marked ? [{ name: 'puts the configured prefix first', input: 'hi', config: { prefix: '>> ' }, expect: ['>> HI'] }] : []),
      { name: 'keeps the key', input: { body: 'keyed', key: 'k1' }, expect: [{ body: 'KEYED', key: 'k1' }] },
      { name: 'drops empty messages', input: '', expect: 'dropped' },
    ],
  };
}

interface Arguments {
  name?: string;
  language: Language;
  dir?: string;
  help: boolean;
}

function parseArguments(args: string[]): Arguments {
  const parsed: Arguments = { language: 'assemblyscript', help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = (flag: string): string => {
      if (arg.includes('=')) return arg.slice(arg.indexOf('=') + 1);
      const next = args[++i];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`${flag} needs a value; ${USAGE}`);
      return next;
    };
    if (arg === '--help' || arg === '-h') {
      parsed.help = true;
    } else if (arg === '--lang' || arg.startsWith('--lang=')) {
      const given = value('--lang');
      const language = ALIASES[given.toLowerCase()];
      if (language === undefined) throw new ConfigError(`--lang '${given}' is not one of ${LANGUAGES.join(', ')}`);
      parsed.language = language;
    } else if (arg === '--dir' || arg.startsWith('--dir=')) {
      parsed.dir = value('--dir');
    } else if (arg.startsWith('-')) {
      throw new ConfigError(`unknown option '${arg}'; ${USAGE}`);
    } else if (parsed.name === undefined) {
      parsed.name = arg;
    } else {
      throw new ConfigError(`unexpected argument '${arg}' after the name '${parsed.name}'; ${USAGE}`);
    }
  }
  return parsed;
}

function copyTemplate(from: string, to: string, replace: (text: string) => string): string[] {
  const written: string[] = [];
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, replace(entry.name));
    if (entry.isDirectory()) {
      fs.mkdirSync(target, { recursive: true });
      written.push(...copyTemplate(source, target, replace));
    } else {
      fs.writeFileSync(target, replace(fs.readFileSync(source, 'utf8')));
      written.push(target);
    }
  }
  return written;
}

export async function main(args: string[]): Promise<number> {
  const parsed = parseArguments(args);
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const name = parsed.name;
  if (name === undefined) throw new ConfigError(`give the module a name, for example wasm-pipes new demo --lang rust; ${USAGE}`);
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(name) || name.endsWith('-')) {
    throw new ConfigError(
      `'${name}' is not a module name: use lower-case letters, digits and dashes, starting with a letter (for example redact-ssn)`,
    );
  }
  const target = path.resolve(parsed.dir ?? name);
  if (fs.existsSync(target) && (!fs.statSync(target).isDirectory() || fs.readdirSync(target).length > 0)) {
    throw new ConfigError(`${target} already exists and is not an empty folder; choose another name or --dir`);
  }
  const root = packageRoot();
  const language = parsed.language;
  const sdk = sdkReference(root, target, language);
  const values: Record<string, string> = {
    __NAME__: name,
    __CRATE__: name.replace(/-/g, '_'),
    __SDK__: sdk,
    __ASSEMBLYSCRIPT_VERSION__: installedVersion(root, 'assemblyscript'),
    __WABT_VERSION__: installedVersion(root, 'wabt'),
  };
  const replace = (text: string): string => text.replace(/__[A-Z_]+__/g, (placeholder) => values[placeholder] ?? placeholder);
  fs.mkdirSync(target, { recursive: true });
  const written = copyTemplate(path.join(root, 'sdk', 'templates', language), target, replace);
  fs.writeFileSync(path.join(target, 'cases.json'), `${JSON.stringify(sampleCases(name, language), null, 2)}\n`);
  fs.writeFileSync(path.join(target, '.gitignore'), `*.wasm\n${language === 'rust' ? 'target/\nCargo.lock\n' : ''}`);
  written.push(path.join(target, 'cases.json'), path.join(target, '.gitignore'));
  const shown = path.relative(process.cwd(), target) || '.';
  process.stdout.write(
    `created ${shown}/ (${language}): ${written
      .map((file) => path.relative(target, file))
      .sort()
      .join(', ')}\n` + `next: cd ${shown} && make && npx wasm-pipes test\n`,
  );
  return 0;
}
