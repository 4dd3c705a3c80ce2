// The subcommand dispatcher of the bin: no argument runs the pipeline, `help`/`--help` prints the help, and a known
// command runs bin/commands/<name>.ts. The commands are the files that exist, so the list grows as files land, and
// anything else exits 2 (an unknown word must never start the pipeline and consume its queue).
import fs from 'node:fs';
import path from 'node:path';

/** What every bin/commands/<name>.ts exports. */
export interface CommandModule {
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  main(args: string[]): Promise<number>;
  /** One line for the help's command list. */
  description?: string;
}

/** Exit code of usage and configuration errors. */
export const USAGE_EXIT_CODE = 2;

/** Where the command files are: bin/commands next to this file (dist/bin/commands once built). */
export const COMMANDS_DIR = path.join(__dirname, 'commands');

const COMMAND_NAME = /^[a-z][a-z0-9-]*$/;
/** Built-in words, not files: they cannot be overridden by a command file of the same name. */
const BUILT_IN = ['help'];

/** The command names found in `dir`: `<name>.js` once built, `<name>.ts` when run from source (tests). */
export function commandNames(dir: string = COMMANDS_DIR): string[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const file of files) {
    if (file.endsWith('.d.ts')) continue;
    const match = /^(.+)\.(?:js|ts)$/.exec(file);
    if (match !== null && COMMAND_NAME.test(match[1]) && !BUILT_IN.includes(match[1])) names.add(match[1]);
  }
  return [...names].sort();
}

/** Loads the module of a command found by commandNames (never a name that was not listed there). */
export function loadCommand(name: string, dir: string = COMMANDS_DIR): CommandModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(path.join(dir, name)) as Partial<CommandModule>;
  if (typeof loaded.main !== 'function') {
    throw new Error(`bin/commands/${name} does not export main(args: string[]): Promise<number>`);
  }
  return loaded as CommandModule;
}

/** The "Commands:" section of the help, one line per command. */
export function commandsHelp(dir: string = COMMANDS_DIR): string[] {
  const lines = [
    'Commands:',
    '  (none)      run the pipeline the environment describes',
    '  help        this help (also --help, -h); help SCHEME: the URI parameters of a connector',
  ];
  for (const name of commandNames(dir)) {
    let description = '';
    try {
      description = loadCommand(name, dir).description ?? '';
    } catch {
      // a command that fails to load still shows up; running it reports why
    }
    lines.push(`  ${name.padEnd(11)} ${description}`.trimEnd());
  }
  lines.push('  --version   print the version');
  return lines;
}

/** The one-line refusal of an unknown word, naming the commands there are. */
export function unknownUsage(what: string, dir: string = COMMANDS_DIR): string {
  const commands = ['help', ...commandNames(dir)];
  return (
    `${what}; the commands are: ${commands.join(', ')} (with no command, wasm-pipes runs the pipeline its environment ` +
    'describes; see wasm-pipes --help)'
  );
}

/** How `argv` is to be handled. */
export type Invocation =
  | { kind: 'pipeline' }
  | { kind: 'help'; topic?: string }
  | { kind: 'version' }
  | { kind: 'command'; name: string; args: string[] }
  | { kind: 'usage-error'; message: string };

/** Decides what `argv` (the arguments after the bin's name) asks for. */
export function parseInvocation(argv: readonly string[], dir: string = COMMANDS_DIR): Invocation {
  if (argv.length === 0) return { kind: 'pipeline' };
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    if (rest.length === 0) return { kind: 'help' };
    // `help <scheme>`: that connector's URI parameters
    if (first === 'help' && rest.length === 1) return { kind: 'help', topic: rest[0] };
    return { kind: 'usage-error', message: unknownUsage(`unexpected argument '${rest[rest.length - 1]}' after ${first}`, dir) };
  }
  if (first === '--version') {
    return rest.length === 0
      ? { kind: 'version' }
      : { kind: 'usage-error', message: unknownUsage(`unexpected argument '${rest[0]}' after --version`, dir) };
  }
  if (commandNames(dir).includes(first)) return { kind: 'command', name: first, args: rest };
  const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
  return { kind: 'usage-error', message: unknownUsage(what, dir) };
}
