// Key templates: keys made from a message, such as `profile:{json.user}`, for the wasm stage's prefetch hint
// (WASM_PREFETCH, or `prefetch: 'profile:{json.user}'`) and the rate limit's key (RATE_LIMIT_KEY).
import { ConfigError } from './errors';
import { JsonFieldReader } from './jsonFields';
import type { Message } from './message';

const PLACEHOLDER = /\{(key|metadata\.[^{}]+|json\.[^{}]+)\}/g;

const TEXT = 0;
const KEY = 1;
const METADATA = 2;
const JSON_FIELD = 3;

/** A piece of a template, all of one shape (a closure per message reads them: monomorphic property loads). */
interface Part {
  kind: typeof TEXT | typeof KEY | typeof METADATA | typeof JSON_FIELD;
  /** The literal text, or the metadata name. */
  text: string;
  /** The JSON field's index in the reader's fields. */
  field: number;
}

/**
 * Keys from templates (comma-separated) with `{key}` (the message key), `{metadata.NAME}` and `{json.FIELD}` (a
 * top-level field of a JSON object body), for example `profile:{json.user}, tenant:{metadata.tenant}`. A
 * placeholder with no value (absent, null, an object or an array, or a body that is not a JSON object) leaves its
 * key out. The JSON fields are read without parsing the rest of the body (lib/jsonFields.ts).
 *
 * @param variable the option or environment variable the templates come from, named in the error for a bad one
 * @param use `hint` for a prefetch hint, which never changes results: the JSON fields are read up to the last one
 *   asked for, and no further (the first of a repeated key counts; see lib/jsonFields.ts). A key that decides
 *   something (the rate limit's) reads the whole body, and a repeated key's last value counts, as in JSON.parse.
 * @throws ConfigError for a template without a placeholder
 */
export function keyTemplate(text: string, variable: string, use: 'hint' | 'key' = 'key'): (message: Message) => string[] {
  const templates = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const fields: string[] = [];
  const compiled = templates.map((template) => parse(template, fields));
  if (compiled.length === 0 || compiled.some((parts) => parts.every((part) => part.kind === TEXT))) {
    throw new ConfigError(`'${text}' has no placeholder; write keys like profile:{json.user}, user:{key} or tenant:{metadata.tenant}`, {
      variable,
    });
  }
  const reader = fields.length === 0 ? undefined : new JsonFieldReader(fields, { firstFound: use === 'hint' });
  return (message) => {
    const values = reader?.read(message.body);
    // as long as it can be, and trimmed: [] and push() would reserve room for 17 keys for every message
    const keys = new Array<string>(compiled.length);
    let count = 0;
    for (const parts of compiled) {
      let key = '';
      let missing = false;
      for (const part of parts) {
        const value =
          part.kind === TEXT
            ? part.text
            : part.kind === KEY
              ? message.key
              : part.kind === METADATA
                ? message.metadata[part.text]
                : values?.[part.field];
        if (typeof value === 'string') key += value;
        else if (typeof value === 'number' || typeof value === 'boolean') key += String(value);
        else {
          missing = true;
          break;
        }
      }
      if (!missing) keys[count++] = key;
    }
    if (count < keys.length) keys.length = count;
    return keys;
  };
}

/** A template as literal text and placeholders; the JSON fields it names are added to `fields`. */
function parse(template: string, fields: string[]): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const at = match.index;
    if (at > last) parts.push({ kind: TEXT, text: template.slice(last, at), field: -1 });
    const name = match[1];
    if (name === 'key') parts.push({ kind: KEY, text: '', field: -1 });
    else if (name.startsWith('metadata.')) parts.push({ kind: METADATA, text: name.slice('metadata.'.length), field: -1 });
    else {
      const field = name.slice('json.'.length);
      let index = fields.indexOf(field);
      if (index < 0) index = fields.push(field) - 1;
      parts.push({ kind: JSON_FIELD, text: '', field: index });
    }
    last = at + match[0].length;
  }
  if (last < template.length) parts.push({ kind: TEXT, text: template.slice(last), field: -1 });
  return parts;
}
