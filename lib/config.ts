// Parsing of durations, sizes and numbers from environment variables and URI parameters, with ConfigErrors that
// name the variable and show a valid value.
import { ConfigError } from './errors';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `10s`, `5m`, `1h`, or a plain number of milliseconds. */
export function parseDuration(value: string | number, variable = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else {
    const match = DURATION.exec(value.trim());
    if (match) return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']);
  }
  throw new ConfigError(`'${value}' is not a duration; use a number of milliseconds or a value like 500ms, 10s, 5m, 1h`, {
    variable,
  });
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

/** `1048576`, `512kb`, `1MiB`, `2mb` (binary units). */
export function parseSize(value: string | number, variable = 'size'): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) return value;
  } else {
    const match = SIZE.exec(value.trim());
    if (match) return Math.floor(Number(match[1]) * UNIT_BYTES[(match[2] ?? 'b').toLowerCase()]);
  }
  throw new ConfigError(`'${value}' is not a size; use a number of bytes or a value like 512kb, 1mb`, { variable });
}

/** A whole number within [min, max]. */
export function parseInteger(value: string | number, variable: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const number = typeof value === 'number' ? value : Number(value.trim());
  if (Number.isInteger(number) && number >= min && number <= max) return number;
  throw new ConfigError(`'${value}' is not a whole number between ${min} and ${max}`, { variable });
}

export function parseBoolean(value: string | boolean, variable: string): boolean {
  if (typeof value === 'boolean') return value;
  const normalized = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  throw new ConfigError(`'${value}' is not a boolean; use true or false`, { variable });
}
