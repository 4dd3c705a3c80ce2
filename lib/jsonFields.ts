// Top-level fields of a JSON object body, read without parsing the rest: the key templates (prefetch hints, rate
// limit keys) need one or two short fields of every message, and JSON.parse builds every object and string of the
// body for them (about 0.5 µs for a 120-byte event, and the garbage after it). This scanner walks the bytes once,
// steps over the values it is not asked for, and decodes only the asked ones.
//
// It reads; it does not validate. A body that is not an object, or that breaks off where the scanner walks, gives
// no fields; but a malformed value it steps over (inside a nested object, say) is not noticed. That is enough for a
// hint, which never changes results, and it is why this is not used where the whole body matters.
// A reader made for a hint (`firstFound`) goes further: it stops once it has every asked field, so that a key near the
// start of an event costs a few bytes, not the whole body. A key repeated later, or a body broken after the fields,
// then goes unnoticed; a hint that names the wrong key only costs the module a read it waits for.

/** A scalar JSON value as a key template writes it; objects, arrays and null are not scalars. */
export type JsonScalar = string | number | boolean;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Reads the named top-level fields of JSON object bodies; make one per set of names and reuse it. */
export class JsonFieldReader {
  private readonly names: readonly Buffer[];
  /** With `firstFound`, the bits of every field (one each), when there are few enough for a bit each; else 0. */
  private readonly allFound: number;

  constructor(
    readonly fields: readonly string[],
    options: { firstFound?: boolean } = {},
  ) {
    this.names = fields.map((field) => Buffer.from(field, 'utf8'));
    this.allFound = options.firstFound === true && fields.length <= 30 ? 2 ** fields.length - 1 : 0;
  }

  /**
   * The fields' values, in the order of `fields` (undefined where a field is absent, null, an object or an array);
   * undefined when the body is not a JSON object. When a field appears twice, the last one counts, as in JSON.parse
   * (unless the reader was made with `firstFound`: then the first, and the body is read no further).
   * Never throws: the rate limit calls it for every message.
   */
  read(body: Buffer): (JsonScalar | undefined)[] | undefined {
    const values: (JsonScalar | undefined)[] = new Array(this.names.length).fill(undefined);
    const allFound = this.allFound;
    let found = 0;
    let at = skipSpace(body, 0);
    if (body[at] !== OPEN_BRACE) return undefined;
    at = skipSpace(body, at + 1);
    if (body[at] === CLOSE_BRACE) return values;
    for (;;) {
      if (body[at] !== QUOTE) return undefined;
      const keyEnd = stringEnd(body, at);
      if (keyEnd < 0) return undefined;
      const wanted = this.match(body, at, keyEnd);
      at = skipSpace(body, keyEnd + 1);
      if (body[at] !== COLON) return undefined;
      at = skipSpace(body, at + 1);
      const end = at < body.length ? valueEnd(body, at) : -1;
      if (end < 0) return undefined;
      if (wanted >= 0) {
        values[wanted] = scalar(body, at, end);
        if (allFound !== 0) {
          found |= 1 << wanted;
          if (found === allFound) return values;
        }
      }
      at = skipSpace(body, end);
      if (body[at] === CLOSE_BRACE) return values;
      if (body[at] !== COMMA) return undefined;
      at = skipSpace(body, at + 1);
    }
  }

  /** The index in `fields` of the key between `start` (its opening quote) and `end` (its closing quote), or -1. */
  private match(body: Buffer, start: number, end: number): number {
    const length = end - start - 1;
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i];
      if (name.length === length && sameBytes(body, start + 1, name)) return i;
    }
    // a key written with escapes ("\u0075ser") is the same key: decode it (rare) and compare the text
    if (!hasBackslash(body, start + 1, end)) return -1;
    try {
      return this.fields.indexOf(JSON.parse(body.toString('utf8', start, end + 1)) as string);
    } catch {
      return -1; // a bad escape: not a key anyone asked for (read() never throws)
    }
  }
}

/** Whether `body` holds `name` at `at` (a loop: short keys compare faster in JavaScript than through a native call). */
function sameBytes(body: Buffer, at: number, name: Buffer): boolean {
  for (let i = 0; i < name.length; i++) if (body[at + i] !== name[i]) return false;
  return true;
}

function hasBackslash(body: Buffer, start: number, end: number): boolean {
  for (let at = start; at < end; at++) if (body[at] === BACKSLASH) return true;
  return false;
}

function skipSpace(body: Buffer, at: number): number {
  while (at < body.length && isSpace(body[at])) at++;
  return at;
}

/** The index of the closing quote of the string that opens at `start`, or -1 when the body ends first. */
function stringEnd(body: Buffer, start: number): number {
  // a loop, not indexOf: the strings of an event are short, and a native call costs more than walking them
  const end = body.length;
  for (let at = start + 1; at < end; at++) {
    const byte = body[at];
    if (byte === QUOTE) return at;
    if (byte === BACKSLASH) at++; // the escaped character is part of the string, even a quote
  }
  return -1;
}

/** The end (exclusive) of the value at `at`, stepping over nested objects, arrays and strings; -1 when cut off. */
function valueEnd(body: Buffer, at: number): number {
  const first = body[at];
  if (first === QUOTE) {
    const end = stringEnd(body, at);
    return end < 0 ? -1 : end + 1;
  }
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    while (at < body.length) {
      const byte = body[at];
      if (byte === QUOTE) {
        const end = stringEnd(body, at);
        if (end < 0) return -1;
        at = end + 1;
        continue;
      }
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return at + 1;
      }
      at++;
    }
    return -1;
  }
  // a number, true, false or null: up to the next delimiter
  let end = at;
  while (end < body.length) {
    const byte = body[end];
    if (byte === COMMA || byte === CLOSE_BRACE || isSpace(byte)) break;
    end++;
  }
  return end === at ? -1 : end;
}

/** The UTF-8 text between `start` and `end`: a short ASCII one is built in JavaScript, cheaper than a native call. */
function shortText(body: Buffer, start: number, end: number): string {
  if (end - start > 32) return body.toString('utf8', start, end);
  let result = '';
  for (let at = start; at < end; at++) {
    const byte = body[at];
    if (byte >= 0x80) return body.toString('utf8', start, end);
    result += String.fromCharCode(byte);
  }
  return result;
}

/** The scalar between `start` and `end`, or undefined for null, an object, an array or something that is not JSON. */
function scalar(body: Buffer, start: number, end: number): JsonScalar | undefined {
  const first = body[start];
  if (first === QUOTE) {
    // without escapes the text between the quotes is the value; with them, JSON.parse decodes the string alone
    if (!hasBackslash(body, start + 1, end - 1)) return shortText(body, start + 1, end - 1);
    try {
      return JSON.parse(body.toString('utf8', start, end)) as string;
    } catch {
      return undefined;
    }
  }
  if (first === OPEN_BRACE || first === OPEN_BRACKET) return undefined;
  const text = body.toString('latin1', start, end);
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return undefined;
  // JSON.parse, not Number(): "0x10", "" or "1e" are not JSON numbers
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}
