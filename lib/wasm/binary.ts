// A small reader of the WebAssembly binary format: just enough to name what a module imports and exports with
// their signatures (for ABI errors that say exactly what is wrong), and to cap the memory a module may grow to.
// The engine validates everything else when it compiles the module.

export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | 'unknown';

export interface FunctionType {
  params: ValueType[];
  results: ValueType[];
}

export interface ImportEntry {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  /** For functions. */
  type?: FunctionType;
}

export interface ExportEntry {
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  /** For functions. */
  type?: FunctionType;
}

export interface MemoryLimits {
  initial: number;
  maximum?: number;
  shared: boolean;
  memory64: boolean;
}

export interface ModuleInfo {
  imports: ImportEntry[];
  exports: ExportEntry[];
  /** Memories the module defines (not imported ones). */
  memories: MemoryLimits[];
}

export const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const KINDS = ['function', 'table', 'memory', 'global', 'tag'] as const;

class Reader {
  offset: number;
  constructor(
    readonly bytes: Uint8Array,
    offset = 0,
  ) {
    this.offset = offset;
  }

  byte(): number {
    if (this.offset >= this.bytes.length) throw new RangeError('unexpected end of the module');
    return this.bytes[this.offset++];
  }

  u32(): number {
    return this.unsigned(35);
  }

  u64(): number {
    return this.unsigned(70);
  }

  /** An unsigned LEB128 number; one whose continuation goes past `maxShift` bits is malformed. */
  private unsigned(maxShift: number): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > maxShift) throw new RangeError('malformed LEB128 number');
    }
  }

  name(): string {
    const length = this.u32();
    if (this.offset + length > this.bytes.length) throw new RangeError('a name runs past the end of the module');
    const text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.offset, length).toString('utf8');
    this.offset += length;
    return text;
  }

  valueType(): ValueType {
    switch (this.byte()) {
      case 0x7f:
        return 'i32';
      case 0x7e:
        return 'i64';
      case 0x7d:
        return 'f32';
      case 0x7c:
        return 'f64';
      case 0x7b:
        return 'v128';
      case 0x70:
        return 'funcref';
      case 0x6f:
        return 'externref';
      default:
        return 'unknown';
    }
  }

  limits(): MemoryLimits {
    const flags = this.byte();
    const memory64 = (flags & 0x04) !== 0;
    const initial = memory64 ? this.u64() : this.u32();
    const maximum = (flags & 0x01) !== 0 ? (memory64 ? this.u64() : this.u32()) : undefined;
    return { initial, maximum, shared: (flags & 0x02) !== 0, memory64 };
  }
}

export function isWasm(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && WASM_MAGIC.every((byte, index) => bytes[index] === byte);
}

interface Section {
  id: number;
  /** Offset of the section's id byte. */
  start: number;
  /** Offset of the section's content. */
  contentStart: number;
  end: number;
}

/**
 * The engine's own limits (V8's, which every engine of Node shares): a module past them does not compile anyway, and
 * holding to them keeps this reader's memory within a small multiple of the module's size, whatever its bytes say.
 */
export const LIMITS = {
  types: 1_000_000,
  functions: 1_000_000,
  imports: 100_000,
  exports: 100_000,
  memories: 100,
  params: 1_000,
  results: 1_000,
};

/** Where each known section may appear: non-custom sections come at most once, in this order (the spec's). */
const SECTION_ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

/**
 * The sections of a module, one at a time. Custom sections (names, debug information) are checked and skipped, never
 * kept: a module of many tiny sections costs time proportional to its size and no memory.
 */
function* sections(bytes: Uint8Array): Generator<Section> {
  const reader = new Reader(bytes, 8);
  let lastRank = 0;
  while (reader.offset < bytes.length) {
    const start = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.offset;
    const end = contentStart + size;
    if (end > bytes.length) throw new RangeError(`section ${id} at byte ${start} runs past the end of the module`);
    if (id === 0) {
      // a custom section starts with its name
      if (size === 0) throw new RangeError(`custom section at byte ${start} has no name`);
      const nameLength = reader.u32();
      if (reader.offset + nameLength > end) throw new RangeError(`custom section at byte ${start} has a name longer than the section`);
    } else {
      const rank = SECTION_ORDER[id];
      if (rank === undefined) throw new RangeError(`unknown section id ${id} at byte ${start}`);
      if (rank <= lastRank) throw new RangeError(`section ${id} at byte ${start} is out of order or repeated`);
      lastRank = rank;
      yield { id, start, contentStart, end };
    }
    reader.offset = end;
  }
}

/** The entry count of a section, refused when it cannot be true (each entry takes a byte at least) or passes `limit`. */
function count(reader: Reader, section: Section, what: keyof typeof LIMITS): number {
  const value = reader.u32();
  if (value > section.end - reader.offset)
    throw new RangeError(`the module declares ${value} ${what} in a section of ${section.end - section.contentStart} bytes`);
  if (value > LIMITS[what]) throw new RangeError(`the module declares ${value} ${what}, more than the engine's limit of ${LIMITS[what]}`);
  return value;
}

/** A function signature read where the type section has it (only for the imports and exports that are reported). */
function typeAt(bytes: Uint8Array, offsets: readonly number[], index: number): FunctionType | undefined {
  const offset = offsets[index];
  if (offset === undefined) return undefined;
  const reader = new Reader(bytes, offset);
  if (reader.byte() !== 0x60) return { params: ['unknown'], results: ['unknown'] }; // a type of the GC proposals
  const params = valueTypes(reader, 'params');
  const results = valueTypes(reader, 'results');
  return { params, results };
}

function valueTypes(reader: Reader, what: 'params' | 'results'): ValueType[] {
  const length = reader.u32();
  if (length > LIMITS[what]) throw new RangeError(`a function type has ${length} ${what}, more than the engine's limit of ${LIMITS[what]}`);
  if (length > reader.bytes.length - reader.offset) throw new RangeError('unexpected end of the module');
  const types: ValueType[] = [];
  for (let i = 0; i < length; i++) types.push(reader.valueType());
  return types;
}

/**
 * Reads imports, exports (with function signatures) and memories. Throws a RangeError for a malformed module. Its
 * memory stays within a small multiple of the module's size: types are remembered by offset, and every count is
 * checked against the bytes that hold it and the engine's limits before anything is allocated for it.
 */
export function readModuleInfo(bytes: Uint8Array): ModuleInfo {
  /** Offsets of the type section's entries. */
  const typeOffsets: number[] = [];
  /** The type index of each function, imported ones first. */
  const functionTypes: number[] = [];
  const imports: ImportEntry[] = [];
  const exports: ExportEntry[] = [];
  const memories: MemoryLimits[] = [];
  for (const section of sections(bytes)) {
    const reader = new Reader(bytes, section.contentStart);
    switch (section.id) {
      case 1: {
        const entries = count(reader, section, 'types');
        for (let i = 0; i < entries; i++) {
          typeOffsets.push(reader.offset);
          if (reader.byte() !== 0x60) break; // a type this reader does not know (GC proposals): the engine checks it
          valueTypes(reader, 'params');
          valueTypes(reader, 'results');
        }
        break;
      }
      case 2: {
        const entries = count(reader, section, 'imports');
        for (let i = 0; i < entries; i++) {
          const module = reader.name();
          const name = reader.name();
          const kind = KINDS[reader.byte()] ?? 'function';
          const entry: ImportEntry = { module, name, kind };
          if (kind === 'function') {
            const typeIndex = reader.u32();
            entry.type = typeAt(bytes, typeOffsets, typeIndex);
            functionTypes.push(typeIndex);
          } else if (kind === 'table') {
            reader.valueType();
            reader.limits();
          } else if (kind === 'memory') {
            reader.limits();
          } else if (kind === 'global') {
            reader.valueType();
            reader.byte();
          } else {
            reader.byte();
            reader.u32();
          }
          imports.push(entry);
        }
        break;
      }
      case 3: {
        const entries = count(reader, section, 'functions');
        for (let i = 0; i < entries; i++) functionTypes.push(reader.u32());
        break;
      }
      case 5: {
        const entries = count(reader, section, 'memories');
        for (let i = 0; i < entries; i++) memories.push(reader.limits());
        break;
      }
      case 7: {
        const entries = count(reader, section, 'exports');
        for (let i = 0; i < entries; i++) {
          const name = reader.name();
          const kind = KINDS[reader.byte()] ?? 'function';
          const index = reader.u32();
          const typeIndex = kind === 'function' ? functionTypes[index] : undefined;
          exports.push({ name, kind, type: typeIndex === undefined ? undefined : typeAt(bytes, typeOffsets, typeIndex) });
        }
        break;
      }
      default:
        break;
    }
  }
  return { imports, exports, memories };
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

/**
 * The module with the maximum of its (first, defined) memory lowered to `maxPages`, so that `memory.grow` beyond
 * the cap fails inside the module (returns -1) instead of taking the host's memory. Returns the bytes unchanged
 * when the module's own maximum is already lower. Throws a RangeError when the module starts above the cap.
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  let memorySection: Section | undefined;
  for (const section of sections(bytes)) if (section.id === 5) memorySection = section;
  if (memorySection === undefined) return bytes;
  const reader = new Reader(bytes, memorySection.contentStart);
  const count = reader.u32();
  if (count === 0) return bytes;
  const limits = reader.limits();
  if (limits.memory64 || limits.shared) return bytes;
  if (limits.initial > maxPages) {
    throw new RangeError(`the module's memory starts at ${limits.initial} pages, above the cap of ${maxPages} pages`);
  }
  if (limits.maximum !== undefined && limits.maximum <= maxPages) return bytes;
  const rest = bytes.subarray(reader.offset, memorySection.end);
  const content = [...leb(count), 0x01, ...leb(limits.initial), ...leb(maxPages)];
  const header = [5, ...leb(content.length + rest.length)];
  const out = new Uint8Array(bytes.length - (memorySection.end - memorySection.start) + header.length + content.length + rest.length);
  out.set(bytes.subarray(0, memorySection.start), 0);
  let offset = memorySection.start;
  out.set(header, offset);
  offset += header.length;
  out.set(content, offset);
  offset += content.length;
  out.set(rest, offset);
  offset += rest.length;
  out.set(bytes.subarray(memorySection.end), offset);
  return out;
}

export function formatType(type: FunctionType | undefined): string {
  if (type === undefined) return '(unknown signature)';
  const results = type.results.length === 0 ? 'nothing' : type.results.join(', ');
  return `(${type.params.join(', ')}) -> ${results}`;
}

export function sameType(type: FunctionType | undefined, params: readonly ValueType[], results: readonly ValueType[]): boolean {
  if (type === undefined) return true; // not readable here: the engine will check at link time
  return (
    type.params.length === params.length &&
    type.results.length === results.length &&
    type.params.every((param, index) => param === params[index]) &&
    type.results.every((result, index) => result === results[index])
  );
}
