// Parsing of durations, sizes and numbers from environment variables and URI parameters, with ConfigErrors that
// name the variable and show a valid value.
import { ConfigError } from './errors';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The longest delay a Node.js timer keeps (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `500ms`, `10s`, `5m`, `1h`, or a plain number of milliseconds. Refuses what would silently mean something else: a
 * value under 1 ms that would round to 0 (often "off"), and anything above `max` (pass MAX_TIMER_MS for a timer).
 */
export function parseDuration(value: string | number, variable = 'duration', max = Number.MAX_SAFE_INTEGER): number {
  let ms: number | undefined;
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) ms = value;
  } else {
    const match = DURATION.exec(value.trim());
    if (match) {
      const exact = Number(match[1]) * UNIT_MS[match[2] ?? 'ms'];
      // 0.4ms would round to 0, which turns timeouts off
      if (exact > 0 && Math.round(exact) === 0) {
        throw new ConfigError(`'${value}' is less than 1 ms, which would round to 0; use 0 to turn it off, or 1ms or more`, { variable });
      }
      ms = Math.round(exact);
    }
  }
  if (ms !== undefined && ms > max) {
    throw new ConfigError(`'${value}' is longer than ${formatMs(max)}, the longest it can be; use a value like 500ms, 10s, 5m, 1h`, {
      variable,
    });
  }
  if (ms !== undefined) return ms;
  throw new ConfigError(`'${value}' is not a duration; use a number of milliseconds or a value like 500ms, 10s, 5m, 1h`, {
    variable,
  });
}

function formatMs(ms: number): string {
  const days = ms / 86_400_000;
  return days >= 1 ? `${ms} ms (about ${Math.floor(days)} days)` : `${ms} ms`;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?$/i;
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** `1048576`, `512kb`, `1MiB`, `2mb` (binary units); a fraction of a byte and sizes past 2^53 are refused. */
export function parseSize(value: string | number, variable = 'size'): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else {
    const match = SIZE.exec(value.trim());
    if (match) {
      const exact = Number(match[1]) * UNIT_BYTES[(match[2] ?? 'b').toLowerCase()];
      const bytes = Math.floor(exact);
      if (exact > 0 && bytes === 0) {
        throw new ConfigError(`'${value}' is less than one byte; use a number of bytes or a value like 512kb, 1mb`, { variable });
      }
      if (Number.isSafeInteger(bytes)) return bytes;
    }
  }
  throw new ConfigError(`'${value}' is not a size; use a number of bytes or a value like 512kb, 1mb`, { variable });
}

/** Digits only (with an optional minus sign): Number() would also take 1e3, 0x10, 1.0, ' ' and '' (as 0). */
const WHOLE_NUMBER = /^-?\d+$/;

/** A whole number within [min, max], written in decimal digits. */
export function parseInteger(value: string | number, variable: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const text = typeof value === 'number' ? undefined : value.trim();
  const number = text === undefined ? (value as number) : WHOLE_NUMBER.test(text) ? Number(text) : Number.NaN;
  if (Number.isSafeInteger(number) && number >= min && number <= max) return number;
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `between ${min} and ${max}`;
  throw new ConfigError(
    `'${value}' is not a whole number ${range}, written in digits (for example ${Math.max(min, Math.min(max, 1024))})`,
    {
      variable,
    },
  );
}

export function parseBoolean(value: string | boolean, variable: string): boolean {
  if (typeof value === 'boolean') return value;
  const normalized = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  throw new ConfigError(`'${value}' is not a boolean; use true or false`, { variable });
}
