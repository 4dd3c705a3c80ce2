// WASI preview 1 for modules built for wasm32-wasi (C with wasi-libc, Rust std): what a library needs to print,
// read the clock, draw random numbers and read its environment, and nothing more. node:wasi answers the clocks,
// randomness, arguments and environment (the module's config, nothing of the host's); the host answers the standard
// streams itself, so that stdout and stderr become log lines of the module (rate-limited) instead of bytes on the
// process's own stdout, which may be the pipeline's output. There is no file, socket or preopened folder: a module
// that imports a function outside this set does not load, and the error names the import.
import type { WASI as NodeWasi, WASIOptions } from 'node:wasi';
import type { ImportSpec } from './abi';
import type { HostServices } from './host';
import { WasmTrapError } from './errors';

/** The import module of WASI preview 1. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

const I32 = 'i32' as const;
const I64 = 'i64' as const;

/** What the host provides of WASI preview 1, with the signatures the specification gives them. */
export const WASI_IMPORTS: Readonly<Record<string, ImportSpec>> = {
  args_get: { params: [I32, I32], results: [I32] },
  args_sizes_get: { params: [I32, I32], results: [I32] },
  environ_get: { params: [I32, I32], results: [I32] },
  environ_sizes_get: { params: [I32, I32], results: [I32] },
  clock_res_get: { params: [I32, I32], results: [I32] },
  clock_time_get: { params: [I32, I64, I32], results: [I32] },
  random_get: { params: [I32, I32], results: [I32] },
  sched_yield: { params: [], results: [I32] },
  proc_exit: { params: [I32], results: [] },
  // the standard streams: stdout and stderr go to the log; stdin is empty
  fd_write: { params: [I32, I32, I32, I32], results: [I32] },
  fd_fdstat_get: { params: [I32, I32], results: [I32] },
  fd_seek: { params: [I32, I64, I32, I32], results: [I32] },
  fd_close: { params: [I32], results: [I32] },
  // libc asks for preopened folders at start-up: there are none
  fd_prestat_get: { params: [I32, I32], results: [I32] },
  fd_prestat_dir_name: { params: [I32, I32, I32], results: [I32] },
};

/** Why an import of WASI outside WASI_IMPORTS is refused, for the start-up error. */
export function wasiRefusal(name: string): string {
  const what = name.startsWith('sock_')
    ? 'modules get no network'
    : name === 'poll_oneoff'
      ? 'modules cannot sleep or wait (it would hold every message behind it)'
      : name === 'fd_read'
        ? 'modules get no standard input: the message is the input'
        : name.startsWith('path_') || name.startsWith('fd_')
          ? 'modules get no filesystem'
          : 'the host does not provide it';
  return (
    `unknown import '${WASI_MODULE}.${name}': ${what}. WASI modules may print (stdout and stderr go to the log), read the ` +
    `clock, draw random numbers and read their config as environment variables; remove what calls ${name}`
  );
}

const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_SPIPE = 70;
const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHT_FD_READ = 2n;
const RIGHT_FD_WRITE = 64n;
/** A line longer than this is logged in pieces. */
const MAX_LINE_BYTES = 8192;

let nodeWasi: typeof NodeWasi | undefined;

/**
 * node:wasi, loaded once. Node 20 warns on stderr, outside the log, that WASI is experimental when the module is
 * first required; what this host uses of it (clocks, random, environment) is stable, so that one warning is dropped.
 */
function wasiClass(): typeof NodeWasi {
  if (nodeWasi !== undefined) return nodeWasi;
  // the very function, to put back as it was (Reflect.get: not called here, and not bound)
  const emitWarning = Reflect.get(process, 'emitWarning');
  process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/\bWASI\b/.test(text)) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  };
  try {
    nodeWasi = (require('node:wasi') as { WASI: typeof NodeWasi }).WASI;
  } finally {
    process.emitWarning = emitWarning;
  }
  return nodeWasi;
}

type WasiFunction = (...args: (number | bigint)[]) => number | void;

/** The WASI side of one instance: node:wasi for clocks and environment, the standard streams to the log. */
export class WasiHost {
  readonly imports: Record<string, WasiFunction>;
  private readonly wasi: NodeWasi;
  private memory: WebAssembly.Memory | undefined;
  /** Bytes of the line being written, per stream (1 stdout, 2 stderr). */
  private readonly partial: Buffer[][] = [[], [], []];
  private readonly partialBytes = [0, 0, 0];

  constructor(
    private readonly name: string,
    private readonly services: Pick<HostServices, 'config' | 'moduleLog'>,
  ) {
    const WASI = wasiClass();
    const options: WASIOptions & { version: 'preview1' } = {
      version: 'preview1',
      args: [name],
      // the module's config is its whole environment: nothing of the host's (secrets live there)
      env: Object.fromEntries(services.config),
      preopens: {},
      returnOnExit: false,
    };
    this.wasi = new WASI(options);
    const node = this.wasi.wasiImport as Record<string, WasiFunction>;
    const own: Record<string, WasiFunction> = {
      fd_write: (fd, iovs, count, written) => this.fdWrite(Number(fd), Number(iovs), Number(count), Number(written)),
      fd_fdstat_get: (fd, out) => this.fdstat(Number(fd), Number(out)),
      fd_seek: (fd) => (isStdio(fd) ? ERRNO_SPIPE : ERRNO_BADF),
      fd_close: (fd) => (isStdio(fd) ? ERRNO_SUCCESS : ERRNO_BADF),
      fd_prestat_get: () => ERRNO_BADF,
      fd_prestat_dir_name: () => ERRNO_BADF,
      proc_exit: (code) => {
        this.flush();
        throw new WasmTrapError(`${this.name} called exit(${Number(code)}); a module returns a status instead (see sdk/ABI.md)`);
      },
    };
    this.imports = {};
    for (const importName of Object.keys(WASI_IMPORTS)) this.imports[importName] = own[importName] ?? node[importName];
  }

  /** Binds node:wasi to the instance's memory and runs the module's `_initialize` (a reactor's constructors), if any. */
  start(instance: WebAssembly.Instance): void {
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.wasi.initialize(instance);
  }

  private view(): DataView {
    return new DataView((this.memory as WebAssembly.Memory).buffer);
  }

  private fdstat(fd: number, out: number): number {
    if (!isStdio(fd)) return ERRNO_BADF;
    const view = this.view();
    // a character device without seek rights: libc treats it as a terminal, so that stdout is line-buffered and a
    // println shows up at its newline rather than when a buffer fills
    view.setUint8(out, FILETYPE_CHARACTER_DEVICE);
    view.setUint16(out + 2, 0, true);
    view.setBigUint64(out + 8, fd === 0 ? RIGHT_FD_READ : RIGHT_FD_WRITE, true);
    view.setBigUint64(out + 16, 0n, true);
    return ERRNO_SUCCESS;
  }

  private fdWrite(fd: number, iovs: number, count: number, writtenPtr: number): number {
    if (fd !== 1 && fd !== 2) return ERRNO_BADF;
    const view = this.view();
    const memory = Buffer.from(view.buffer);
    let written = 0;
    for (let i = 0; i < count; i++) {
      const ptr = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      if (ptr + len > memory.length)
        throw new WasmTrapError(`${this.name}: fd_write: the range ${ptr}..${ptr + len} is outside the module's memory`);
      this.take(fd, memory.subarray(ptr, ptr + len));
      written += len;
    }
    view.setUint32(writtenPtr, written, true);
    return ERRNO_SUCCESS;
  }

  /** Adds bytes to a stream's line, logging each line that ends. */
  private take(fd: number, bytes: Buffer): void {
    let start = 0;
    for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, start)) {
      this.append(fd, bytes.subarray(start, at));
      this.line(fd);
      start = at + 1;
    }
    if (start < bytes.length) this.append(fd, bytes.subarray(start));
    if (this.partialBytes[fd] >= MAX_LINE_BYTES) this.line(fd);
  }

  private append(fd: number, bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.partial[fd].push(Buffer.from(bytes)); // a copy: the module's memory changes
    this.partialBytes[fd] += bytes.length;
  }

  private line(fd: number): void {
    const text = Buffer.concat(this.partial[fd]).toString('utf8').replace(/\r$/, '');
    this.partial[fd] = [];
    this.partialBytes[fd] = 0;
    const stream = fd === 1 ? 'stdout' : 'stderr';
    // info for stdout and warn for stderr, limited to 10 lines a second per module like its log() calls
    this.services.moduleLog.write(fd === 1 ? 'info' : 'warn', text, { module: this.name, stream });
  }

  /** Logs what is left of unfinished lines (the module exits). */
  flush(): void {
    for (const fd of [1, 2]) if (this.partialBytes[fd] > 0) this.line(fd);
  }
}

function isStdio(fd: number | bigint): boolean {
  return fd === 0 || fd === 1 || fd === 2;
}
