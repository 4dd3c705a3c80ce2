// Reads an s3://bucket/prefix URI: the client settings (region, endpoint, credentials), when an object is written
// (count, bytes, age), its format, and the object-name template. Nothing here connects.
import { randomBytes } from 'node:crypto';
import type { EndpointUri } from '../../registry';
import { ConfigError } from '../../errors';
import { parseBoolean, parseDuration, parseInteger, parseSize, MAX_TIMER_MS } from '../../config';
import { lineFormat, type LineFormat } from '../local/jsonLines';

export const SCHEME = 's3';
const EXAMPLE = 's3://archive/events/';
/** S3 refuses parts under 5 MiB (except the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const DEFAULT_TEMPLATE = '{date}/{time}-{unique}.jsonl';

export interface S3ClientSettings {
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export interface S3SinkConfig {
  bucket: string;
  /** Prepended to every object name: the URI's path without its leading slash (`events/`). */
  prefix: string;
  client: S3ClientSettings;
  /** Where errors say the service is. */
  host: string;
  format: LineFormat;
  contentType: string;
  /** Write an object at this many messages, this many bytes, or when its first message is this old (ms). */
  maxCount: number;
  maxBytes: number;
  maxAgeMs: number;
  /** Objects larger than this go up in parts of this size (multipart upload). */
  partSize: number;
  /** Uploads (objects, or parts of one) at once. */
  uploads: number;
  template: ObjectNameTemplate;
  variable: string;
}

/** A bucket name as S3 accepts it: 3-63 lower-case letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function first(...values: (string | undefined)[]): string | undefined {
  return values.find((value) => value !== undefined && value !== '');
}

export function s3SinkConfig(uri: EndpointUri, env: NodeJS.ProcessEnv): S3SinkConfig {
  const variable = uri.variable;
  const bucket = decodeURIComponent(uri.url.hostname);
  if (!BUCKET.test(bucket)) {
    throw new ConfigError(
      `'${bucket}' is not a bucket name (3 to 63 lower-case letters, digits, '.' and '-'); write s3://bucket/prefix, for example ${EXAMPLE}`,
      { variable },
    );
  }
  const prefix = decodeURIComponent(uri.url.pathname.replace(/^\/+/, ''));
  const region = first(uri.params.get('region'), env.AWS_REGION, env.AWS_DEFAULT_REGION);
  if (region !== undefined && !/^[a-z0-9-]+$/.test(region)) {
    throw new ConfigError(`'${region}' is not an AWS region; use a region name such as us-east-2`, { variable });
  }
  const endpoint = first(uri.params.get('endpoint'), env.AWS_ENDPOINT_URL_S3, env.AWS_ENDPOINT_URL);
  if (endpoint !== undefined) {
    try {
      new URL(endpoint);
    } catch {
      throw new ConfigError(`endpoint '${endpoint}' is not a URL; for example endpoint=http://127.0.0.1:9000`, { variable });
    }
  }
  const pathStyleText = uri.params.get('path_style');
  // emulators and self-hosted stores (MinIO) rarely resolve bucket.host names: path style when an endpoint is given
  const forcePathStyle = pathStyleText !== undefined ? parseBoolean(pathStyleText, `${variable} path_style`) : endpoint !== undefined;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  // explicit credentials only from an environment given in the options; process.env is read by the SDK's own chain
  const credentials =
    env !== process.env && accessKeyId && secretAccessKey
      ? { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  const format = lineFormat(uri, 'envelope');
  const partSize = parseSize(uri.params.get('part_size') ?? '8mb', `${variable} part_size`);
  if (partSize < MIN_PART_SIZE) {
    throw new ConfigError(
      `part_size=${uri.params.get('part_size')} is under 5 MiB, the smallest part S3 takes; for example part_size=8mb`,
      { variable },
    );
  }
  const maxAgeMs = parseDuration(uri.params.get('max_age') ?? '5s', `${variable} max_age`, MAX_TIMER_MS);
  if (maxAgeMs < 1) throw new ConfigError('max_age must be 1ms or more, for example max_age=5s', { variable });
  let host = 's3.amazonaws.com';
  if (endpoint !== undefined) host = new URL(endpoint).host;
  else if (region !== undefined) host = `s3.${region}.amazonaws.com`;
  return {
    bucket,
    prefix,
    client: {
      ...(region !== undefined ? { region } : {}),
      ...(endpoint !== undefined ? { endpoint } : {}),
      forcePathStyle,
      ...(credentials !== undefined ? { credentials } : {}),
    },
    host,
    format,
    contentType: format === 'envelope' ? 'application/x-ndjson' : 'text/plain; charset=utf-8',
    maxCount: parseInteger(uri.params.get('max_count') ?? '10000', `${variable} max_count`, 1),
    maxBytes: parseSize(uri.params.get('max_bytes') ?? '64mb', `${variable} max_bytes`),
    maxAgeMs,
    partSize,
    uploads: parseInteger(uri.params.get('uploads') ?? '4', `${variable} uploads`, 1, 64),
    template: parseTemplate(uri.params.get('name') ?? DEFAULT_TEMPLATE, variable),
    variable,
  };
}

/** What an object name is made of: the time (UTC) its first message came, and a part unique to it. */
export interface ObjectNameParts {
  time: Date;
  unique: string;
  count: number;
}

export type ObjectNameTemplate = (parts: ObjectNameParts) => string;

const two = (value: number): string => String(value).padStart(2, '0');

const TOKENS: Record<string, (parts: ObjectNameParts) => string> = {
  date: ({ time }) => `${time.getUTCFullYear()}-${two(time.getUTCMonth() + 1)}-${two(time.getUTCDate())}`,
  time: ({ time }) => `${two(time.getUTCHours())}${two(time.getUTCMinutes())}${two(time.getUTCSeconds())}`,
  yyyy: ({ time }) => String(time.getUTCFullYear()),
  MM: ({ time }) => two(time.getUTCMonth() + 1),
  dd: ({ time }) => two(time.getUTCDate()),
  HH: ({ time }) => two(time.getUTCHours()),
  mm: ({ time }) => two(time.getUTCMinutes()),
  ss: ({ time }) => two(time.getUTCSeconds()),
  unique: ({ unique }) => unique,
  count: ({ count }) => String(count),
};

/**
 * `{date}/{time}-{unique}.jsonl` and the like: {date} (2026-05-20), {time} (134501), {yyyy} {MM} {dd} {HH} {mm} {ss},
 * {unique} (required: two objects must never get one name), {count} (messages in the object).
 */
export function parseTemplate(text: string, variable: string): ObjectNameTemplate {
  const pieces: ((parts: ObjectNameParts) => string)[] = [];
  let unique = false;
  let rest = text;
  while (rest.length > 0) {
    const open = rest.indexOf('{');
    if (open === -1) {
      const literal = rest;
      pieces.push(() => literal);
      break;
    }
    if (open > 0) {
      const literal = rest.slice(0, open);
      pieces.push(() => literal);
    }
    const close = rest.indexOf('}', open);
    const token = close === -1 ? undefined : rest.slice(open + 1, close);
    const render = token === undefined ? undefined : TOKENS[token];
    if (render === undefined) {
      throw new ConfigError(
        `name='${text}' has an unknown or unclosed ${token === undefined ? "'{'" : `{${token}}`}; use {date}, {time}, {yyyy}, {MM}, {dd}, {HH}, {mm}, {ss}, {unique}, {count}, for example name=${DEFAULT_TEMPLATE}`,
        { variable },
      );
    }
    if (token === 'unique') unique = true;
    pieces.push(render);
    rest = rest.slice(close + 1);
  }
  if (!unique) {
    throw new ConfigError(
      `name='${text}' has no {unique}: two objects could get the same name and one would replace the other; for example name=${DEFAULT_TEMPLATE}`,
      {
        variable,
      },
    );
  }
  return (parts) => pieces.map((piece) => piece(parts)).join('');
}

let objects = 0;
const processPart = randomBytes(4).toString('hex');

/** Unique across processes and time, and sorting by creation within one process: ms time, a counter, a random part. */
export function uniquePart(now: number): string {
  objects = (objects + 1) % 36 ** 4;
  return `${now.toString(36)}${objects.toString(36).padStart(4, '0')}-${processPart}`;
}
