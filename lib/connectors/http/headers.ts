// Header values between messages and HTTP, both ways. HTTP/1.1 carries bytes that Node reads as Latin-1, and cannot
// carry CR, LF or NUL at all, while ids, keys and metadata are Unicode strings: the source reads UTF-8 where the bytes
// are UTF-8, and the sink percent-encodes what plain ASCII cannot carry, naming such headers in X-Percent-Encoded.
import { isUtf8 } from 'node:buffer';

/**
 * The header that lists (comma-separated, lower case) the headers of a request whose values are percent-encoded UTF-8
 * (as encodeURIComponent writes them). The HTTP sink sets it; the HTTP source decodes the headers it names.
 */
export const PERCENT_ENCODED_HEADER = 'x-percent-encoded';

/** Any byte outside ASCII, as Node hands header bytes over (one char per byte). */
const NON_ASCII = /[\x80-\xff]/;

/**
 * A header value as Node gives it (each byte one Latin-1 char) as the sender meant it: UTF-8 when its bytes are valid
 * UTF-8 (what curl, browsers and most clients send for `café`), else the Latin-1 reading unchanged.
 */
export function decodeHeaderValue(value: string): string {
  if (!NON_ASCII.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : value;
}

/** The value of a header the sender percent-encoded (see PERCENT_ENCODED_HEADER); undecodable ones stay as they came. */
export function decodePercentEncoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The header names listed in an X-Percent-Encoded value. */
export function percentEncodedNames(value: string | string[] | undefined): Set<string> {
  const names = new Set<string>();
  if (value === undefined) return names;
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const name of part.split(',')) {
      const trimmed = name.trim().toLowerCase();
      if (trimmed !== '') names.add(trimmed);
    }
  }
  return names;
}

/**
 * Printable ASCII with no space at either end: what every HTTP implementation passes through unchanged (parsers trim
 * the ends of a value, and bytes above 0x7e are read as Latin-1 by some and UTF-8 by others).
 */
const PLAIN_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

/** Whether `value` can go into a header as it is. */
export function isPlainHeaderValue(value: string): boolean {
  return PLAIN_VALUE.test(value);
}

/**
 * `value` percent-encoded as UTF-8 (encodeURIComponent), for a header the receiver finds listed in X-Percent-Encoded.
 * Throws a URIError for a string that is not Unicode (a lone surrogate): such a value cannot be sent at all.
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value);
}
