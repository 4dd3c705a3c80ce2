// 10 000 random and malformed HTTP requests against the HTTP source (token and HMAC on, a small body limit, a small
// credit window): bad methods, garbage request lines, huge headers, truncated and oversized bodies, wrong tokens and
// signatures, odd queries and paths, next to valid requests. No crash; every answer is a 4xx/5xx, or a 200 for a
// message the sink confirmed with exactly the bytes sent; nothing else reaches the sink; no credit slot leaks.
import net from 'node:net';
import { createHmac } from 'node:crypto';
import { source } from '../../lib/endpoints';
import { start, type RunningPipeline } from '../../lib/run';
import type { Message } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { freePort } from '../helpers/wait';
import { pipelineParts } from '../../lib/run';

const REQUESTS = 10_000;
const CONCURRENCY = 48;
const TOKEN = 'fuzz-token-8c1d';
const HMAC_SECRET = 'fuzz-hmac-2e9f';
const MAX_BODY = 4096;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Category =
  | 'valid-post'
  | 'valid-get'
  | 'nack'
  | 'bad-method'
  | 'garbage'
  | 'no-token'
  | 'wrong-token'
  | 'wrong-signature'
  | 'huge-headers'
  | 'too-large'
  | 'too-large-chunked'
  | 'truncated'
  | 'bad-header'
  | 'wrong-path';

const CATEGORIES: Category[] = [
  'valid-post',
  'valid-post',
  'valid-post',
  'valid-get',
  'nack',
  'bad-method',
  'garbage',
  'no-token',
  'wrong-token',
  'wrong-signature',
  'huge-headers',
  'too-large',
  'too-large-chunked',
  'truncated',
  'bad-header',
  'wrong-path',
];

interface Planned {
  id: string;
  category: Category;
  bytes: Buffer;
  /** What the sink must receive for a 200. */
  expectedBody?: Buffer;
}

interface Outcome {
  status?: number;
  /** The connection closed with no status line (a refused or truncated request). */
  noAnswer: boolean;
}

function sign(body: Buffer | string): string {
  return `sha256=${createHmac('sha256', HMAC_SECRET).update(body).digest('hex')}`;
}

/** The JSON the source makes of a GET's query (repeated names become arrays). */
function queryJson(query: string): Buffer {
  const object: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    const existing = object[name];
    if (existing === undefined) object[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else object[name] = [existing, value];
  }
  return Buffer.from(JSON.stringify(object));
}

function plan(index: number, random: () => number): Planned {
  const id = `f-${index}`;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const category = pick(CATEGORIES);
  const randomBytes = (length: number): Buffer => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
  const bodyOf = (): Buffer =>
    pick([
      () => Buffer.from(JSON.stringify({ i: index, text: 'é\u0000"\\'.repeat(Math.floor(random() * 20)) })),
      () => Buffer.from('{"unterminated": [1, 2'),
      () => randomBytes(Math.floor(random() * MAX_BODY)),
      () => Buffer.alloc(MAX_BODY, 0x61),
      () => Buffer.alloc(0),
    ])();
  const head = (method: string, target: string, headers: Record<string, string>, body?: Buffer): Buffer => {
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', `X-Message-Id: ${id}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    if (body !== undefined && !('Transfer-Encoding' in headers)) lines.push(`Content-Length: ${body.length}`);
    return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body ?? Buffer.alloc(0)]);
  };
  const planned = (bytes: Buffer, expectedBody?: Buffer): Planned => ({ id, category, bytes, expectedBody });
  const post = (headers: Record<string, string>, body: Buffer): Buffer => head('POST', '/events', headers, body);
  const auth = (body: Buffer): Record<string, string> => ({ Authorization: `Bearer ${TOKEN}`, 'X-Signature-256': sign(body) });
  switch (category) {
    case 'valid-post':
    case 'nack': {
      const body = category === 'nack' ? Buffer.from(`nack-me ${index}`) : bodyOf();
      return planned(head(pick(['POST', 'PUT']), '/events', { ...auth(body), 'Content-Type': 'application/json' }, body), body);
    }
    case 'valid-get': {
      const query = pick([
        `a=${index}&b=2`,
        'a=%zz&a=%E2%82%AC&b',
        `x=${'y'.repeat(Math.floor(random() * 500))}`,
        '',
        '=&&==&a=1=2',
        'k=%00%01',
      ]);
      const expected = queryJson(query);
      return planned(
        head('GET', query === '' ? '/events' : `/events?${query}`, {
          Authorization: `Bearer ${TOKEN}`,
          'X-Signature-256': sign(expected),
        }),
        expected,
      );
    }
    case 'bad-method': {
      const body = bodyOf();
      return planned(head(pick(['DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'FOO', 'CONNECT']), '/events', auth(body), body));
    }
    case 'garbage':
      return planned(
        pick([
          () => randomBytes(1 + Math.floor(random() * 300)),
          () => Buffer.from('GET /events HTTP/9.9\r\n\r\n'),
          () => Buffer.from('POST  /events  HTTP/1.1\r\nContent-Length: -5\r\n\r\n'),
          () => Buffer.from(`POST /events HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\nX-Message-Id: ${id}\r\n\r\nhello`),
          () => Buffer.from('\r\n\r\n\r\n'),
        ])(),
      );
    case 'no-token': {
      const body = bodyOf();
      return planned(post({ 'X-Signature-256': sign(body) }, body));
    }
    case 'wrong-token': {
      const body = bodyOf();
      return planned(
        post(
          { Authorization: pick(['Bearer nope', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, 'Bearer ']), 'X-Signature-256': sign(body) },
          body,
        ),
      );
    }
    case 'wrong-signature': {
      const body = bodyOf();
      return planned(
        post(
          {
            Authorization: `Bearer ${TOKEN}`,
            'X-Signature-256': pick(['sha256=00', sign(Buffer.concat([body, Buffer.from('x')])), 'md5=abc', '']),
          },
          body,
        ),
      );
    }
    case 'huge-headers':
      return planned(
        post({ ...auth(Buffer.from('x')), 'X-Padding': 'p'.repeat(17_000 + Math.floor(random() * 20_000)) }, Buffer.from('x')),
      );
    case 'too-large': {
      const body = Buffer.alloc(MAX_BODY + 1 + Math.floor(random() * 4000), 0x62);
      return planned(post(auth(body), body));
    }
    case 'too-large-chunked': {
      const body = Buffer.alloc(MAX_BODY + 100, 0x63);
      const chunked = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
      return planned(post({ ...auth(body), 'Transfer-Encoding': 'chunked' }, chunked));
    }
    case 'truncated': {
      const body = Buffer.alloc(200, 0x64);
      const full = post(auth(body), body);
      return planned(full.subarray(0, full.length - 1 - Math.floor(random() * 150)));
    }
    case 'bad-header': {
      const body = Buffer.from('{}');
      const raw = Buffer.concat([
        Buffer.from(
          `POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Message-Id: ${id}\r\nAuthorization: Bearer ${TOKEN}\r\nX-Signature-256: ${sign(body)}\r\n`,
        ),
        pick([
          Buffer.from('Bad Header: x\r\n'),
          Buffer.from('X-Ctl: a\u0001b\r\n'),
          Buffer.from(': empty\r\n'),
          Buffer.from('X-Fold: a\r\n folded\r\n'),
        ]),
        Buffer.from(`Content-Length: ${body.length}\r\n\r\n`),
        body,
      ]);
      return planned(raw);
    }
    case 'wrong-path': {
      const body = Buffer.from('{}');
      return planned(head('POST', pick(['/', '/event', '/events/x', '/%zz', '/events%00', '//events', '*']), auth(body), body));
    }
  }
}

/** Sends raw bytes on a new connection, half-closes, and reads the answer until the server closes. */
function send(port: number, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
      resolve(match ? { status: Number(match[1]), noAnswer: false } : { noAnswer: true });
    };
    // a server that never answers nor closes is a failure the assertions will name
    const timer = setTimeout(() => {
      chunks.push(Buffer.from('HTTP/1.1 999 TIMEOUT '));
      finish();
    }, 20_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(bytes, () => socket.end());
  });
}

/** The sink: acks asynchronously, nacks bodies that say so, and records what it saw. */
function recordingSink(): Sink & { acked: Map<string, Buffer>; nacked: Set<string> } {
  const acked = new Map<string, Buffer>();
  const nacked = new Set<string>();
  let flip = 0;
  return {
    name: 'recording',
    ready: true,
    acked,
    nacked,
    next(message: Message) {
      const settle = (): void => {
        if (message.body.toString('latin1').startsWith('nack-me')) {
          nacked.add(message.id);
          message.nack(new Error('the sink refused it'));
        } else {
          acked.set(message.id, message.body);
          message.ack();
        }
      };
      if (flip++ % 3 === 0) settle();
      else setImmediate(settle);
    },
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
}

describe(`HTTP source fuzz (FUZZ_SEED=${SEED})`, () => {
  let running: RunningPipeline;
  let port: number;
  const out = recordingSink();

  beforeAll(async () => {
    port = await freePort();
    running = start(
      source(`http://127.0.0.1:${port}/events`, {
        env: { HTTP_SOURCE_TOKEN: TOKEN, HTTP_SOURCE_HMAC_SECRET: HMAC_SECRET, HTTP_MAX_BODY: String(MAX_BODY) },
        maxInFlight: 16,
      }),
      out,
      { handleSignals: false, shutdownTimeout: 2000 },
    );
    await running.started;
  });

  afterAll(async () => {
    await running.stop();
  });

  test(`${REQUESTS} random and malformed requests: no crash, answers consistent with the sink, no leaked credit`, async () => {
    const random = prng(SEED);
    const planned = Array.from({ length: REQUESTS }, (_, i) => plan(i, random));
    const outcomes = new Array<Outcome>(REQUESTS);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const index = next++;
          outcomes[index] = await send(port, planned[index].bytes);
        }
      }),
    );

    const problems: string[] = [];
    const answered200 = new Set<string>();
    const byCategory = new Map<string, Map<string, number>>();
    planned.forEach((request, index) => {
      const outcome = outcomes[index];
      const shown = outcome.noAnswer ? 'no answer' : String(outcome.status);
      const counts = byCategory.get(request.category) ?? new Map<string, number>();
      counts.set(shown, (counts.get(shown) ?? 0) + 1);
      byCategory.set(request.category, counts);
      if (outcome.status === 999) problems.push(`${request.id} (${request.category}): no answer and no close within 20 s`);
      if (outcome.status === 200) answered200.add(request.id);
      const valid = request.category === 'valid-post' || request.category === 'valid-get';
      if (valid && outcome.status !== 200) problems.push(`${request.id} (${request.category}) answered ${shown}, not 200`);
      if (request.category === 'nack' && outcome.status !== 503) problems.push(`${request.id} (nack) answered ${shown}, not 503`);
      if (!valid && outcome.status === 200) problems.push(`${request.id} (${request.category}) answered 200`);
      if (!outcome.noAnswer && outcome.status !== undefined && outcome.status !== 200 && (outcome.status < 400 || outcome.status > 599)) {
        problems.push(`${request.id} (${request.category}) answered ${shown}`);
      }
      if (outcome.status === 200) {
        const written = out.acked.get(request.id);
        if (written === undefined) problems.push(`${request.id} answered 200 but is not at the sink`);
        else if (request.expectedBody !== undefined && !written.equals(request.expectedBody))
          problems.push(`${request.id}: the sink got other bytes than were sent`);
      }
    });
    // nothing reached the sink that the caller was not told about
    for (const id of out.acked.keys()) if (!answered200.has(id)) problems.push(`${id} is at the sink but was not answered 200`);
    for (const id of out.nacked) if (planned[Number(id.slice(2))]?.category !== 'nack') problems.push(`${id} was nacked by the sink`);
    const summary = [...byCategory].map(
      ([category, counts]) => `${category}: ${[...counts].map(([status, n]) => `${status}x${n}`).join(' ')}`,
    );
    expect({ problems: problems.slice(0, 20), problemCount: problems.length }).toEqual({ problems: [], problemCount: 0 });

    // every category was exercised, and the refusals carry the right codes
    for (const category of new Set(CATEGORIES)) expect(byCategory.has(category)).toBe(true);
    const count = (category: Category, status: string): number => byCategory.get(category)?.get(status) ?? 0;
    expect(count('huge-headers', '431')).toBeGreaterThan(0);
    expect(count('too-large', '413')).toBeGreaterThan(0);
    expect(count('too-large-chunked', '413')).toBeGreaterThan(0);
    expect(count('no-token', '401') + count('wrong-token', '401')).toBeGreaterThan(0);
    expect(count('wrong-signature', '401')).toBeGreaterThan(0);
    expect(count('bad-method', '405') + count('bad-method', '400')).toBeGreaterThan(0);
    expect(count('wrong-path', '404')).toBeGreaterThan(0);
    expect(summary.length).toBe(new Set(CATEGORIES).size);

    // the source is still healthy, with its whole window free
    const source = pipelineParts(running).sources[0];
    expect(source.inFlightCount).toBe(0);
    expect(source.credit).toBe(16);
    const body = '{"after":"the storm"}';
    const after = await fetch(`http://127.0.0.1:${port}/events`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${TOKEN}`, 'x-signature-256': sign(body), 'x-message-id': 'after' },
    });
    expect(after.status).toBe(200);
    expect(out.acked.get('after')?.toString()).toBe(body);
    const stats = running.stats();
    expect(stats.acked).toBe(out.acked.size);
    expect(stats.nacked).toBe(out.nacked.size);
  });
});
