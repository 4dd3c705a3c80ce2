// Where a module's bytes come from: a file, an http(s):// URL, an s3:// or a gs:// object. Every way goes through one
// bounded path: a size cap (checked against the announced length first, then while reading), the SHA-256 computed
// while reading (so that a pin is checked before anything parses the bytes), connect and total timeouts, and
// redirects that never drop TLS nor reach a host the user did not allow.
import { requireClientPackages } from '../registry';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { ConfigError } from '../errors';

/** 16 MiB: ten times a large Rust or TinyGo module; raise it with WASM_MAX_MODULE_SIZE (maxModuleBytes). */
export const DEFAULT_MAX_MODULE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_FETCH_TIMEOUT_MS = 60_000;
/** Redirects followed for one download (each checked); more is a loop or a misconfigured server. */
const MAX_REDIRECTS = 5;
/** Bytes of an error response kept for the message (a GCS JSON error, a short HTML page). */
const ERROR_BODY_BYTES = 4096;

export interface SupplyOptions {
  /** Largest module accepted, in bytes. */
  maxModuleBytes?: number;
  /** Milliseconds to open a connection (DNS and TLS included). */
  connectTimeout?: number;
  /** Milliseconds for the whole download, redirects and credentials included. */
  fetchTimeout?: number;
  /** Hosts a redirect may lead to besides the URL's own: names, `*.example.com`, or `*` for any. */
  redirectHosts?: readonly string[];
  /** Where s3:// and gs:// read their region, endpoint and emulator host. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The variable or option the module came from, for error messages. */
  variable: string;
}

export interface SuppliedModule {
  bytes: Uint8Array;
  /** The file name, for logs and errors. */
  name: string;
  /** Hex SHA-256 of `bytes`. */
  sha256: string;
}

/** Where the module came from, for messages: a URL's query (a presigned signature, a token) is not repeated. */
export function displayLocation(location: string): string {
  const question = location.indexOf('?');
  return question < 0 ? location : `${location.slice(0, question)}?...`;
}

/** The bytes received so far, their digest, and the cap: never more than `max` bytes are held. */
class BoundedBody {
  private readonly chunks: Buffer[] = [];
  private readonly hash: Hash = createHash('sha256');
  length = 0;

  constructor(
    private readonly max: number,
    private readonly location: string,
    private readonly variable: string,
  ) {}

  add(chunk: Buffer): void {
    this.length += chunk.length;
    if (this.length > this.max) throw tooLarge(this.location, `more than ${formatBytes(this.max)}`, this.max, this.variable);
    this.hash.update(chunk);
    this.chunks.push(chunk);
  }

  finish(name: string): SuppliedModule {
    const bytes = Buffer.concat(this.chunks, this.length);
    this.chunks.length = 0;
    return { bytes, name, sha256: this.hash.digest('hex') };
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

function sizeVariable(variable: string): string {
  return variable === 'WASM_MODULE' ? 'WASM_MAX_MODULE_SIZE' : 'the maxModuleBytes option';
}

function tooLarge(location: string, size: string, max: number, variable: string): ConfigError {
  return new ConfigError(
    `the module at ${displayLocation(location)} is ${size}, above the cap of ${formatBytes(max)}; refusing it before reading further ` +
      `(a module that large is unusual: check the URL; raise ${sizeVariable(variable)} if it is right)`,
    { variable },
  );
}

/** The whole download's time limit: one timer, one signal for every request, redirect and credential lookup. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  constructor(readonly ms: number) {
    this.timer = setTimeout(() => this.controller.abort(new Error('the download took too long')), ms);
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get expired(): boolean {
    return this.controller.signal.aborted;
  }
  clear(): void {
    clearTimeout(this.timer);
  }
}

interface Limits {
  maxBytes: number;
  connectTimeout: number;
  fetchTimeout: number;
  redirectHosts: readonly string[];
  env: NodeJS.ProcessEnv;
  variable: string;
}

function limitsOf(options: SupplyOptions): Limits {
  const check = (value: number | undefined, fallback: number, what: string, example: string): number => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0)
      throw new ConfigError(`${what} must be a positive number, not ${value}; for example ${example}`, { variable: what });
    return value;
  };
  return {
    maxBytes: check(options.maxModuleBytes, DEFAULT_MAX_MODULE_BYTES, 'maxModuleBytes', '16777216 (16 MiB)'),
    connectTimeout: check(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeout', '10000 (ms)'),
    fetchTimeout: check(options.fetchTimeout, DEFAULT_FETCH_TIMEOUT_MS, 'fetchTimeout', '60000 (ms)'),
    redirectHosts: (options.redirectHosts ?? []).map((host) => host.trim().toLowerCase()).filter((host) => host.length > 0),
    env: options.env ?? process.env,
    variable: options.variable,
  };
}

/** Reads a module from a path, file://, http(s)://, s3:// or gs:// location, within the limits of `options`. */
export async function supplyModule(location: string, options: SupplyOptions): Promise<SuppliedModule> {
  const limits = limitsOf(options);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https' || scheme === 's3' || scheme === 'gs') {
    const deadline = new Deadline(limits.fetchTimeout);
    try {
      if (scheme === 's3') return await fromS3(location, limits, deadline);
      if (scheme === 'gs') return await fromGcs(location, limits, deadline);
      return await fromHttp(location, limits, deadline);
    } catch (error) {
      if (deadline.expired && !(error instanceof ConfigError)) throw timedOut(location, limits, 0);
      throw error;
    } finally {
      deadline.clear();
    }
  }
  if (scheme !== undefined && scheme !== 'file') {
    throw new ConfigError(
      `cannot load a module from ${scheme}:// ('${displayLocation(location)}'); give a path, or a file://, http(s)://, s3://bucket/key or gs://bucket/object URL`,
      { variable: limits.variable },
    );
  }
  return fromFile(location, limits);
}

async function fromFile(location: string, limits: Limits): Promise<SuppliedModule> {
  const file = /^file:\/\//i.test(location) ? fileURLToPath(location) : location;
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory()) throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
    if (stat.size > limits.maxBytes) throw tooLarge(location, formatBytes(stat.size), limits.maxBytes, limits.variable);
    const body = new BoundedBody(limits.maxBytes, location, limits.variable);
    body.add(await fs.readFile(file));
    return body.finish(path.basename(file));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new ConfigError(
      `cannot read the module '${location}' (${path.resolve(file)}): ${reason}; give the path of a .wasm file, for example ./examples/uppercase/uppercase.wasm`,
      { variable: limits.variable, cause: error },
    );
  }
}

function timedOut(location: string, limits: Limits, received: number): ConfigError {
  const variable = limits.variable === 'WASM_MODULE' ? 'WASM_FETCH_TIMEOUT' : 'the fetchTimeout option';
  return new ConfigError(
    `gave up fetching the module at ${displayLocation(location)} after ${limits.fetchTimeout / 1000} s (${variable})` +
      `${received > 0 ? `, ${received} bytes received` : ''}; is the server answering? Raise ${variable} for a slow link`,
    { variable: limits.variable },
  );
}

/** A response that is not the module: its status and the start of its body. */
class HttpStatus extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(`HTTP ${status}`);
  }
}

/** Whether a redirect may lead to `host`: the module URL's own host, or one of the allowed names. */
function hostAllowed(host: string, origin: URL, allowed: readonly string[]): boolean {
  const name = host.toLowerCase();
  if (name === origin.hostname.toLowerCase()) return true;
  return allowed.some((entry) => entry === '*' || entry === name || (entry.startsWith('*.') && name.endsWith(entry.slice(1))));
}

function checkRedirect(from: URL, to: URL, origin: URL, limits: Limits): void {
  const refuse = (why: string): ConfigError =>
    new ConfigError(`refusing the redirect from ${displayLocation(from.href)} to ${displayLocation(to.href)}: ${why}`, {
      variable: limits.variable,
    });
  if (to.protocol !== 'http:' && to.protocol !== 'https:') throw refuse('only http:// and https:// redirects are followed');
  if (from.protocol === 'https:' && to.protocol === 'http:') {
    throw refuse('it would fetch the module without TLS (https:// to http://); serve the module over https://, or give its final URL');
  }
  if (!hostAllowed(to.hostname, origin, limits.redirectHosts)) {
    const variable = limits.variable === 'WASM_MODULE' ? 'WASM_FETCH_REDIRECT_HOSTS' : 'the redirectHosts option';
    throw refuse(`redirects may reach ${origin.hostname} only; to allow ${to.hostname}, add it to ${variable} (or give the final URL)`);
  }
}

/** One GET, resolved with the response once its headers are in; the connect timeout covers DNS, TCP and TLS. */
function get(url: URL, headers: Record<string, string>, limits: Limits, deadline: Deadline): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    // agent: false, a fresh connection: the connect timer below sees its connect (a pooled socket would not)
    const request = client.get(url, { headers, agent: false, signal: deadline.signal }, resolve);
    const connectTimer = setTimeout(() => {
      const variable = limits.variable === 'WASM_MODULE' ? 'WASM_FETCH_CONNECT_TIMEOUT' : 'the connectTimeout option';
      request.destroy(
        new ConfigError(
          `could not connect to ${url.host} within ${limits.connectTimeout / 1000} s (${variable}) to fetch the module at ${displayLocation(url.href)}`,
          {
            variable: limits.variable,
          },
        ),
      );
    }, limits.connectTimeout);
    request.once('socket', (socket) => {
      const connected = (): void => clearTimeout(connectTimer);
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
    });
    request.once('response', () => clearTimeout(connectTimer));
    request.once('error', (error) => {
      clearTimeout(connectTimer);
      reject(error);
    });
    request.once('close', () => clearTimeout(connectTimer));
  });
}

/** Reads `stream` into `body` (capped); rejects when the stream fails or the deadline passes. */
async function drain(stream: Readable, body: BoundedBody): Promise<void> {
  try {
    for await (const chunk of stream) body.add(chunk as Buffer);
  } catch (error) {
    stream.destroy();
    throw error;
  }
}

async function errorText(response: http.IncomingMessage): Promise<string> {
  let text = '';
  try {
    for await (const chunk of response) {
      text += String(chunk);
      if (text.length >= ERROR_BODY_BYTES) break;
    }
  } catch {
    // the status says enough
  }
  response.destroy();
  return text.slice(0, ERROR_BODY_BYTES);
}

/**
 * Downloads `start` with the shared limits: follows at most MAX_REDIRECTS redirects, each checked (no https -> http,
 * no other host unless allowed; `headers` such as credentials go to the URL's own host only). Throws HttpStatus for
 * a response other than 200.
 */
async function download(
  start: URL,
  headers: Record<string, string>,
  name: string,
  limits: Limits,
  deadline: Deadline,
): Promise<SuppliedModule> {
  let url = start;
  const body = new BoundedBody(limits.maxBytes, start.href, limits.variable);
  for (let redirects = 0; ; redirects++) {
    const response = await get(url, url.host === start.host ? headers : {}, limits, deadline);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      response.resume();
      response.destroy();
      if (redirects >= MAX_REDIRECTS) {
        throw new ConfigError(
          `the module at ${displayLocation(start.href)} redirects more than ${MAX_REDIRECTS} times; give its final URL`,
          { variable: limits.variable },
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new ConfigError(`the module at ${displayLocation(url.href)} redirects to '${location}', which is not a URL`, {
          variable: limits.variable,
        });
      }
      checkRedirect(url, next, start, limits);
      url = next;
      continue;
    }
    if (status !== 200) throw new HttpStatus(status, await errorText(response));
    const announced = Number(response.headers['content-length']);
    if (Number.isFinite(announced) && announced > limits.maxBytes) {
      response.destroy();
      throw tooLarge(start.href, formatBytes(announced), limits.maxBytes, limits.variable);
    }
    try {
      await drain(response, body);
    } catch (error) {
      if (deadline.expired) throw timedOut(start.href, limits, body.length);
      throw error;
    }
    if (deadline.expired) throw timedOut(start.href, limits, body.length);
    return body.finish(name);
  }
}

function fetchFailure(location: string, limits: Limits, error: unknown): ConfigError {
  if (error instanceof ConfigError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'no such host' : (error as Error).message;
  return new ConfigError(
    `could not fetch the module at ${displayLocation(location)}: ${reason}${code !== undefined && !reason.includes(code) ? ` (${code})` : ''}`,
    {
      variable: limits.variable,
      cause: error,
    },
  );
}

async function fromHttp(location: string, limits: Limits, deadline: Deadline): Promise<SuppliedModule> {
  const url = new URL(location);
  try {
    return await download(url, {}, path.basename(url.pathname) || url.host, limits, deadline);
  } catch (error) {
    if (error instanceof HttpStatus) {
      throw new ConfigError(`could not fetch the module at ${displayLocation(location)}: HTTP ${error.status}`, {
        variable: limits.variable,
      });
    }
    if (deadline.expired && !(error instanceof ConfigError)) throw timedOut(location, limits, 0);
    throw fetchFailure(location, limits, error);
  }
}

/** `scheme://bucket/key` split, or a ConfigError showing the form. */
function bucketAndKey(location: string, scheme: 's3' | 'gs', limits: Limits): { url: URL; bucket: string; key: string } {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    url = new URL('invalid://');
  }
  const bucket = url.hostname;
  const key = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (bucket === '' || key === '' || key.endsWith('/')) {
    const example = scheme === 's3' ? 's3://my-bucket/modules/redact.wasm' : 'gs://my-bucket/modules/redact.wasm';
    throw new ConfigError(
      `'${displayLocation(location)}' does not name an object; write ${scheme}://<bucket>/<key>, for example ${example}`,
      {
        variable: limits.variable,
      },
    );
  }
  return { url, bucket, key };
}

/** The S3 object through the AWS SDK (its default credentials chain), streamed into the same bounded body. */
async function fromS3(location: string, limits: Limits, deadline: Deadline): Promise<SuppliedModule> {
  const { url, bucket, key } = bucketAndKey(location, 's3', limits);
  // loaded only when an s3:// module is used; an optional peer dependency, like the broker clients
  requireClientPackages(['@aws-sdk/client-s3'], 's3:// modules', 'WASM_MODULE');

  const s3 = require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
  const env = limits.env;
  const region = url.searchParams.get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const endpoint = url.searchParams.get('endpoint') ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const client = new s3.S3Client({
    ...(region !== undefined && region !== '' ? { region } : {}),
    // an endpoint override is an emulator, MinIO or a VPC endpoint: bucket names in the path, not in the host name
    ...(endpoint !== undefined && endpoint !== '' ? { endpoint, forcePathStyle: url.searchParams.get('forcePathStyle') !== 'false' } : {}),
    followRegionRedirects: true,
    requestHandler: { connectionTimeout: limits.connectTimeout },
  });
  const where = `s3://${bucket}/${key}`;
  let body: Readable | undefined;
  try {
    const response = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: deadline.signal });
    body = response.Body as Readable | undefined;
    if (body === undefined) throw new ConfigError(`${where} has no content`, { variable: limits.variable });
    if (response.ContentLength !== undefined && response.ContentLength > limits.maxBytes) {
      throw tooLarge(where, formatBytes(response.ContentLength), limits.maxBytes, limits.variable);
    }
    const bounded = new BoundedBody(limits.maxBytes, where, limits.variable);
    await drain(body, bounded);
    if (deadline.expired) throw timedOut(where, limits, bounded.length);
    return bounded.finish(path.basename(key));
  } catch (error) {
    body?.destroy();
    if (error instanceof ConfigError) throw error;
    if (deadline.expired) throw timedOut(where, limits, 0);
    throw s3Failure(error, bucket, key, limits);
  } finally {
    client.destroy();
  }
}

function s3Failure(error: unknown, bucket: string, key: string, limits: Limits): ConfigError {
  const name = (error as { name?: string }).name ?? '';
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const message = (error as Error).message ?? String(error);
  const where = `s3://${bucket}/${key}`;
  let text: string;
  if (name === 'NoSuchBucket') text = `no S3 bucket '${bucket}' (for ${where}); check the bucket name and the account of the credentials`;
  else if (name === 'NoSuchKey') text = `no object '${key}' in the S3 bucket '${bucket}' (${where}); check the key`;
  else if (name === 'AccessDenied' || status === 403) {
    text = `access denied to ${where}: the credentials may not read it (s3:GetObject), or it does not exist and they may not list the bucket`;
  } else if (name === 'CredentialsProviderError' || /credential/i.test(message)) {
    text = `no AWS credentials to read ${where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role (${message})`;
  } else if (/region is missing/i.test(message)) {
    text = `no AWS region to read ${where}: add ?region=us-east-2 (for example) to the URI, or set AWS_REGION`;
  } else {
    text = `could not fetch the module at ${where}: ${name !== '' && !message.includes(name) ? `${name}: ` : ''}${message}`;
  }
  return new ConfigError(text, { variable: limits.variable, cause: error });
}

/** The scope of a read-only download from Cloud Storage. */
const GCS_READ_SCOPE = 'https://www.googleapis.com/auth/devstorage.read_only';

/**
 * The Cloud Storage object through the JSON API's media download (`GET /storage/v1/b/<bucket>/o/<object>?alt=media`),
 * with a token from Application Default Credentials; with STORAGE_EMULATOR_HOST, from that host without credentials.
 */
async function fromGcs(location: string, limits: Limits, deadline: Deadline): Promise<SuppliedModule> {
  const { bucket, key } = bucketAndKey(location, 'gs', limits);
  const where = `gs://${bucket}/${key}`;
  const emulator = limits.env.STORAGE_EMULATOR_HOST;
  let base: string;
  const headers: Record<string, string> = {};
  if (emulator !== undefined && emulator !== '') {
    base = (/^https?:\/\//i.test(emulator) ? emulator : `http://${emulator}`).replace(/\/+$/, '');
  } else {
    base = 'https://storage.googleapis.com';
    headers.authorization = `Bearer ${await googleToken(where, limits, deadline)}`;
  }
  let url: URL;
  try {
    url = new URL(`${base}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}?alt=media`);
  } catch {
    throw new ConfigError(`'${emulator}' is not a host:port or URL; for example STORAGE_EMULATOR_HOST=http://127.0.0.1:4443`, {
      variable: 'STORAGE_EMULATOR_HOST',
    });
  }
  try {
    return await download(url, headers, path.basename(key), limits, deadline);
  } catch (error) {
    if (error instanceof HttpStatus) throw gcsFailure(error, bucket, key, limits);
    if (deadline.expired && !(error instanceof ConfigError)) throw timedOut(where, limits, 0);
    throw fetchFailure(where, limits, error);
  }
}

async function googleToken(where: string, limits: Limits, deadline: Deadline): Promise<string> {
  // loaded only when a gs:// module is used (the same library @google-cloud/pubsub authenticates with)
  requireClientPackages(['google-auth-library'], 'gs:// modules', 'WASM_MODULE');

  const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
  const auth = new GoogleAuth({ scopes: GCS_READ_SCOPE });
  let token: string | null | undefined;
  try {
    token = await Promise.race([
      auth.getAccessToken(),
      new Promise<never>((_resolve, reject) =>
        deadline.signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true }),
      ),
    ]);
  } catch (error) {
    if (deadline.expired) throw timedOut(where, limits, 0);
    throw new ConfigError(
      `no Google credentials to read ${where}: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, run \`gcloud auth application-default login\`, ` +
        `or set STORAGE_EMULATOR_HOST for an emulator (${(error as Error).message})`,
      { variable: limits.variable, cause: error },
    );
  }
  if (token === null || token === undefined) {
    throw new ConfigError(`the Google credentials gave no access token to read ${where}`, { variable: limits.variable });
  }
  return token;
}

function gcsFailure(error: HttpStatus, bucket: string, key: string, limits: Limits): ConfigError {
  const where = `gs://${bucket}/${key}`;
  let reason: string;
  try {
    reason = (JSON.parse(error.text) as { error?: { message?: string } }).error?.message ?? '';
  } catch {
    reason = error.text.trim().slice(0, 200);
  }
  let text: string;
  if (error.status === 404 && /bucket/i.test(reason) && /not exist|no such bucket/i.test(reason)) {
    text = `no Cloud Storage bucket '${bucket}' (for ${where}); check the bucket name and the project of the credentials`;
  } else if (error.status === 404) {
    text = `no object '${key}' in the Cloud Storage bucket '${bucket}' (${where}); check the object name`;
  } else if (error.status === 401 || error.status === 403) {
    text = `access denied to ${where} (HTTP ${error.status}${reason !== '' ? `: ${reason}` : ''}); the credentials need storage.objects.get on the bucket`;
  } else {
    text = `could not fetch the module at ${where}: HTTP ${error.status}${reason !== '' ? ` (${reason})` : ''}`;
  }
  return new ConfigError(text, { variable: limits.variable });
}
