// `wasm-pipes test`: runs a module's declared cases (sdk/TESTING.md) without any broker, prints a diff per failing
// case and a summary, and exits 1 when a case fails (2 for a case file or module that cannot be used).
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../lib/errors';
import { formatReport, testModule } from '../../lib/wasm/testRunner';

export const description =
  'run a module on the cases of a case file (default ./cases.json): wasm-pipes test [FILE...] [--module M] [--only NAME]';

const USAGE =
  'usage: wasm-pipes test [CASE_FILE ...] [--module PATH[,PATH...]] [--only TEXT]\n' +
  '  CASE_FILE   a JSON case file (sdk/TESTING.md); default cases.json and *.cases.json in this folder\n' +
  '  --module    the module, or a chain of modules (comma-separated), instead of the file\'s "module"\n' +
  '  --only      run only the cases whose name contains TEXT\n';

interface Arguments {
  files: string[];
  modules?: string[];
  only?: string;
  help: boolean;
}

function parseArguments(args: string[]): Arguments {
  const parsed: Arguments = { files: [], help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = (name: string): string => {
      const inline = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : undefined;
      if (inline !== undefined) return inline;
      const next = args[++i];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`${name} needs a value; ${USAGE}`);
      return next;
    };
    if (arg === '--help' || arg === '-h') parsed.help = true;
    else if (arg === '--module' || arg.startsWith('--module='))
      parsed.modules = value('--module')
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean);
    else if (arg === '--only' || arg.startsWith('--only=')) parsed.only = value('--only');
    else if (arg.startsWith('-')) throw new ConfigError(`unknown option '${arg}'; ${USAGE}`);
    else parsed.files.push(arg);
  }
  return parsed;
}

/** cases.json and *.cases.json of the working directory, when no file is named. */
function defaultFiles(): string[] {
  return fs
    .readdirSync('.')
    .filter((name) => name === 'cases.json' || name.endsWith('.cases.json'))
    .sort();
}

export async function main(args: string[]): Promise<number> {
  const parsed = parseArguments(args);
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const files = parsed.files.length > 0 ? parsed.files : defaultFiles();
  if (files.length === 0) {
    throw new ConfigError(
      `no case file here (${path.resolve('.')}): name one (wasm-pipes test my.cases.json) or write cases.json (see sdk/TESTING.md)`,
    );
  }
  const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
  let failed = 0;
  let total = 0;
  for (const file of files) {
    const report = await testModule(parsed.modules, file, parsed.only === undefined ? {} : { only: parsed.only });
    process.stdout.write(formatReport(report, { color, title: `${file} (${report.modules.join(' -> ')})` }));
    failed += report.failed;
    total += report.results.length;
  }
  if (total === 0) {
    process.stderr.write(`wasm-pipes test: no case ran${parsed.only === undefined ? '' : ` (none is named like '${parsed.only}')`}\n`);
    return 1;
  }
  return failed > 0 ? 1 : 0;
}
