// Small JSON helpers for modules that look at a field or two without a full parser: they scan the text, respecting
// strings, escapes and nesting, and return raw JSON text (strings keep their quotes).

function skipSpace(text: string, i: i32): i32 {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
    i++;
  }
  return i;
}

/** The index just past the JSON value that starts at `i` (or -1 for malformed text). */
export function valueEnd(text: string, i: i32): i32 {
  i = skipSpace(text, i);
  if (i >= text.length) return -1;
  const first = text.charCodeAt(i);
  if (first == 0x22) {
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c == 0x5c) i += 2;
      else if (c == 0x22) return i + 1;
      else i++;
    }
    return -1;
  }
  if (first == 0x7b || first == 0x5b) {
    let depth = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c == 0x22) {
        i = valueEnd(text, i);
        if (i < 0) return -1;
        continue;
      }
      if (c == 0x7b || c == 0x5b) depth++;
      else if (c == 0x7d || c == 0x5d) {
        depth--;
        if (depth == 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c == 0x2c || c == 0x7d || c == 0x5d || c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) break;
    i++;
  }
  return i;
}

/** Where the value of top-level field `name` starts and ends in an object, as [start, end], or null. */
export function fieldRange(text: string, name: string): i32[] | null {
  let i = skipSpace(text, 0);
  if (i >= text.length || text.charCodeAt(i) != 0x7b) return null;
  i++;
  const quoted = '"' + name + '"';
  while (true) {
    i = skipSpace(text, i);
    if (i >= text.length || text.charCodeAt(i) == 0x7d) return null;
    const keyEnd = valueEnd(text, i);
    if (keyEnd < 0) return null;
    const key = text.substring(i, keyEnd);
    i = skipSpace(text, keyEnd);
    if (i >= text.length || text.charCodeAt(i) != 0x3a) return null;
    const start = skipSpace(text, i + 1);
    const end = valueEnd(text, start);
    if (end < 0) return null;
    if (key == quoted) return [start, end];
    i = skipSpace(text, end);
    if (i < text.length && text.charCodeAt(i) == 0x2c) i++;
  }
}

/** The raw JSON text of top-level field `name` (a string keeps its quotes), or null. */
export function field(text: string, name: string): string | null {
  const range = fieldRange(text, name);
  return range == null ? null : text.substring(range[0], range[1]);
}

/** The value of a string field without its quotes (escapes left as they are), or null. */
export function stringField(text: string, name: string): string | null {
  const raw = field(text, name);
  if (raw == null || raw.length < 2 || raw.charCodeAt(0) != 0x22) return null;
  return raw.substring(1, raw.length - 1);
}

/** The value of a number field, or NaN when missing or not a number. */
export function numberField(text: string, name: string): f64 {
  const raw = field(text, name);
  if (raw == null || raw.length == 0) return NaN;
  const c = raw.charCodeAt(0);
  if (c != 0x2d && (c < 0x30 || c > 0x39)) return NaN;
  return parseFloat(raw);
}

/** The elements of a top-level JSON array as raw JSON texts, or null when the text is not an array. */
export function arrayElements(text: string): string[] | null {
  let i = skipSpace(text, 0);
  if (i >= text.length || text.charCodeAt(i) != 0x5b) return null;
  i = skipSpace(text, i + 1);
  const out = new Array<string>();
  if (i < text.length && text.charCodeAt(i) == 0x5d) return out;
  while (i < text.length) {
    const end = valueEnd(text, i);
    if (end < 0) return null;
    out.push(text.substring(i, end));
    i = skipSpace(text, end);
    if (i < text.length && text.charCodeAt(i) == 0x2c) {
      i = skipSpace(text, i + 1);
      continue;
    }
    if (i < text.length && text.charCodeAt(i) == 0x5d) return out;
    return null;
  }
  return null;
}

const HEX = "0123456789abcdef";

/** `value` as a JSON string, quotes included: quotes, backslashes and control characters escaped. */
export function jsonString(value: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c != 0x22 && c != 0x5c && c >= 0x20) continue;
    out += value.substring(start, i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else out += "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
    start = i + 1;
  }
  return out + value.substring(start) + '"';
}

/**
 * The JSON object `json` with field `name` set to the raw JSON `rawValue` (replaced where it is, added at the end
 * when absent), or null when `json` is not an object. For text, pass `jsonString(text)`, or use addStringField.
 */
export function addField(json: string, name: string, rawValue: string): string | null {
  const range = fieldRange(json, name);
  if (range != null) return json.substring(0, range[0]) + rawValue + json.substring(range[1]);
  let close = json.length - 1;
  while (close >= 0 && json.charCodeAt(close) != 0x7d) close--;
  if (close < 0 || json.charCodeAt(skipSpace(json, 0)) != 0x7b) return null;
  let last = close - 1;
  while (last > 0) {
    const c = json.charCodeAt(last);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
    last--;
  }
  const separator = json.charCodeAt(last) == 0x7b ? "" : ",";
  return json.substring(0, last + 1) + separator + jsonString(name) + ":" + rawValue + json.substring(close);
}

/** addField with a text value, escaped. */
export function addStringField(json: string, name: string, value: string): string | null {
  return addField(json, name, jsonString(value));
}
