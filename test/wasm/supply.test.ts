// Module downloads are bounded (issue 19 item 2): a size cap checked while streaming, the pin checked on the digest
// computed while streaming (before any parse), connect and total timeouts, redirects that keep TLS and stay on the
// allowed hosts, and a parse whose memory stays a small multiple of the module. Local HTTP(S) servers play the
// misbehaving module hosts.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadWasm } from '../../lib/wasm/load';
import { ConfigError, WasmAbiError } from '../../lib/errors';
import { runBinToEnd } from '../helpers/bin';
import { wat } from './helpers';
import { capturingLogger } from '../helpers/wait';
import { selfSignedCertificate } from '../helpers/tls';

// the plain-http:// warning of unpinned modules is expected here: keep it out of the test output
const { logger } = capturingLogger('error');

const ALLOC = '(func (export "alloc") (param i32) (result i32) (i32.const 1024))';
const TRANSFORM = '(func (export "transform") (param i32 i32) (result i32) (i32.const 0))';
let moduleBytes: Buffer;
let dir: string;
const servers: net.Server[] = [];
/** Accepted connections no HTTP server manages (closeAllConnections does not reach them): destroyed at the end. */
const sockets: net.Socket[] = [];

beforeAll(async () => {
  moduleBytes = Buffer.from(await wat(`(module (memory (export "memory") 1) ${ALLOC} ${TRANSFORM})`));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-supply-'));
});

afterAll(() => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) {
    (server as http.Server).closeAllConnections?.();
    server.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

/** An HTTP server on 127.0.0.1 and a free port; closed after the file's tests. */
async function serve(handler: Handler): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The wasm header then zeros, without end: a body that only a cap stops. */
function endless(response: http.ServerResponse, sent: { bytes: number }): void {
  response.writeHead(200, { 'content-type': 'application/wasm' }); // chunked: no length announced
  const chunk = Buffer.alloc(64 * 1024);
  Buffer.from('\0asm\x01\0\0\0', 'latin1').copy(chunk);
  const write = (): void => {
    while (!response.destroyed && sent.bytes < 1024 ** 3) {
      sent.bytes += chunk.length;
      if (!response.write(chunk)) {
        response.once('drain', write);
        return;
      }
    }
  };
  write();
}

test('a module is downloaded and its name taken from the URL', async () => {
  const base = await serve((_request, response) => response.end(moduleBytes));
  const module = await loadWasm(`${base}/modules/served.wasm`, { budget: false, logger, sha256: sha256(moduleBytes) });
  expect(module.name).toBe('served.wasm');
});

test('an oversized body is refused from its Content-Length, before it is read', async () => {
  const sent = { bytes: 0 };
  const base = await serve((_request, response) => {
    response.writeHead(200, { 'content-length': String(100 * 1024 * 1024) });
    sent.bytes += 64 * 1024;
    response.write(Buffer.alloc(64 * 1024));
  });
  await expect(loadWasm(`${base}/big.wasm`, { variable: 'WASM_MODULE', maxModuleBytes: 1024 * 1024 })).rejects.toThrow(
    `WASM_MODULE: the module at ${base}/big.wasm is 100 MiB, above the cap of 1 MiB; refusing it before reading further`,
  );
});

test('an endless body (no Content-Length) is cut at the cap, with the variable that raises it', async () => {
  const sent = { bytes: 0 };
  const base = await serve((_request, response) => endless(response, sent));
  const error = await loadWasm(`${base}/endless.wasm`, { variable: 'WASM_MODULE', maxModuleBytes: 2 * 1024 * 1024 }).catch(
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toBe(
    `WASM_MODULE: the module at ${base}/endless.wasm is more than 2 MiB, above the cap of 2 MiB; refusing it before reading further ` +
      '(a module that large is unusual: check the URL; raise WASM_MAX_MODULE_SIZE if it is right)',
  );
  expect(sent.bytes).toBeLessThan(1024 ** 3); // the server was cut off, not read to its end
});

test('a file above the cap is refused from its size', async () => {
  const file = path.join(dir, 'large.wasm');
  fs.writeFileSync(file, Buffer.alloc(3 * 1024 * 1024));
  await expect(loadWasm(file, { maxModuleBytes: 1024 * 1024 })).rejects.toThrow(
    `module: the module at ${file} is 3 MiB, above the cap of 1 MiB; refusing it before reading further`,
  );
});

test('junk is refused as not WebAssembly; the wasm header followed by junk as malformed', async () => {
  const junk = Buffer.from('<html>not a module</html>');
  const shaped = Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.alloc(4096)]);
  const base = await serve((request, response) => response.end(request.url === '/junk.wasm' ? junk : shaped));
  await expect(loadWasm(`${base}/junk.wasm`, { logger })).rejects.toThrow(
    new WasmAbiError('junk.wasm is not a WebAssembly module (it does not start with \\0asm); compile your module to a .wasm binary'),
  );
  await expect(loadWasm(`${base}/shaped.wasm`, { logger })).rejects.toThrow(
    'shaped.wasm is not a valid WebAssembly module: custom section at byte 8 has no name',
  );
});

test('a wrong pin is refused before anything parses the bytes (junk says "digest", not "not WebAssembly")', async () => {
  const junk = Buffer.from('#!/bin/sh\necho pwned\n');
  const base = await serve((_request, response) => response.end(junk));
  const pin = sha256(moduleBytes);
  await expect(loadWasm(`${base}/swapped.wasm`, { variable: 'WASM_MODULE', sha256: pin })).rejects.toThrow(
    `WASM_SHA256: ${base}/swapped.wasm has the SHA-256 digest ${sha256(junk)}, not the pinned ${pin}; refusing to run it`,
  );
});

test('a server that accepts and never answers: the total timeout ends the wait, naming the variable', async () => {
  const base = await serve(() => undefined);
  await expect(loadWasm(`${base}/silent.wasm`, { variable: 'WASM_MODULE', fetchTimeout: 500 })).rejects.toThrow(
    `WASM_MODULE: gave up fetching the module at ${base}/silent.wasm after 0.5 s (WASM_FETCH_TIMEOUT); is the server answering?`,
  );
});

test('a server that trickles a byte at a time: the total timeout holds, and says how much came', async () => {
  const base = await serve((_request, response) => {
    response.writeHead(200);
    response.write(Buffer.from('\0asm', 'latin1'));
    const timer = setInterval(() => response.write(Buffer.from([1])), 100);
    response.once('close', () => clearInterval(timer));
  });
  await expect(loadWasm(`${base}/trickle.wasm`, { variable: 'WASM_MODULE', fetchTimeout: 800 })).rejects.toThrow(
    new RegExp(
      `^WASM_MODULE: gave up fetching the module at ${base}/trickle.wasm after 0.8 s \\(WASM_FETCH_TIMEOUT\\), \\d+ bytes received`,
    ),
  );
});

test('a TLS handshake that never completes: the connect timeout, naming the host', async () => {
  // a TCP server that accepts and says nothing: the connection opens, TLS never does. Its side of the connection is
  // destroyed at the end, or it stays open (half-closed, unread) after the server closes
  const silent = net.createServer((socket) => void sockets.push(socket));
  servers.push(silent);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as net.AddressInfo).port;
  await expect(loadWasm(`https://127.0.0.1:${port}/m.wasm`, { variable: 'WASM_MODULE', connectTimeout: 300 })).rejects.toThrow(
    `WASM_MODULE: could not connect to 127.0.0.1:${port} within 0.3 s (WASM_FETCH_CONNECT_TIMEOUT) to fetch the module at https://127.0.0.1:${port}/m.wasm`,
  );
});

test('a redirect to another host is refused unless allowed; one on the same host is followed', async () => {
  const target = await serve((_request, response) => response.end(moduleBytes));
  const targetPort = new URL(target).port;
  const base = await serve((request, response) => {
    const location = request.url === '/same' ? '/final.wasm' : `http://localhost:${targetPort}/final.wasm`;
    if (request.url === '/final.wasm') response.end(moduleBytes);
    else response.writeHead(302, { location }).end();
  });
  expect((await loadWasm(`${base}/same`, { budget: false, logger })).name).toBe('same');
  await expect(loadWasm(`${base}/elsewhere`, { variable: 'WASM_MODULE' })).rejects.toThrow(
    `WASM_MODULE: refusing the redirect from ${base}/elsewhere to http://localhost:${targetPort}/final.wasm: redirects may reach 127.0.0.1 only; ` +
      'to allow localhost, add it to WASM_FETCH_REDIRECT_HOSTS (or give the final URL)',
  );
  expect((await loadWasm(`${base}/elsewhere`, { budget: false, logger, redirectHosts: ['localhost'] })).abi).toBe('native');
});

test('a redirect loop is cut after 5 redirects', async () => {
  const base = await serve((_request, response) => response.writeHead(302, { location: '/again' }).end());
  await expect(loadWasm(`${base}/loop`)).rejects.toThrow(`the module at ${base}/loop redirects more than 5 times; give its final URL`);
});

describe('the bin', () => {
  let tls: { cert: string; key: string };
  beforeAll(() => {
    tls = selfSignedCertificate(dir);
  });

  async function serveTls(handler: Handler): Promise<string> {
    const server = https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  const run = (env: Record<string, string>): ReturnType<typeof runBinToEnd> =>
    runBinToEnd(
      { LOG_LEVEL: 'warn', SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines', NODE_EXTRA_CA_CERTS: tls.cert, ...env },
      'hello\n',
    );

  test('an https:// module that redirects to http:// stops start-up (exit 2); https -> https on the same host loads', async () => {
    const plain = await serve((_request, response) => response.end(moduleBytes));
    const secure = await serveTls((request, response) => {
      if (request.url === '/final.wasm') response.end(moduleBytes);
      else if (request.url === '/moved.wasm') response.writeHead(301, { location: '/final.wasm' }).end();
      else response.writeHead(302, { location: `${plain}/final.wasm` }).end();
    });
    const followed = await run({ WASM_MODULE: `${secure}/moved.wasm`, WASM_BUDGET: '0' });
    expect(followed.stderr).toBe('');
    expect(followed.status).toBe(0);
    expect(followed.stdout).toBe(''); // the module emits nothing: the line is dropped on purpose
    const downgraded = await run({ WASM_MODULE: `${secure}/downgrade.wasm` });
    expect(downgraded.status).toBe(2);
    expect(downgraded.stderr).toBe(
      `wasm-pipes: WASM_MODULE: refusing the redirect from ${secure}/downgrade.wasm to ${plain}/final.wasm: it would fetch the module without TLS ` +
        '(https:// to http://); serve the module over https://, or give its final URL\n',
    );
  });

  test('start-up is bounded: a module server that never answers ends it with exit 2 after WASM_FETCH_TIMEOUT', async () => {
    const base = await serve(() => undefined);
    const result = await run({ WASM_MODULE: `${base}/silent.wasm`, WASM_FETCH_TIMEOUT: '1s' });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      `wasm-pipes: WASM_MODULE: gave up fetching the module at ${base}/silent.wasm after 1 s (WASM_FETCH_TIMEOUT); is the server answering? ` +
        'Raise WASM_FETCH_TIMEOUT for a slow link\n',
    );
  });

  test('WASM_MAX_MODULE_SIZE sets the cap; bad values of the new variables exit 2 with an example', async () => {
    const base = await serve((_request, response) => response.end(moduleBytes));
    const capped = await run({ WASM_MODULE: `${base}/m.wasm`, WASM_MAX_MODULE_SIZE: '16' });
    expect(capped.status).toBe(2);
    expect(capped.stderr).toContain(`is ${moduleBytes.length} bytes, above the cap of 16 bytes`);
    const zero = await run({ WASM_MODULE: `${base}/m.wasm`, WASM_FETCH_TIMEOUT: '0' });
    expect(zero.stderr).toBe('wasm-pipes: WASM_FETCH_TIMEOUT: must be more than 0; for example WASM_FETCH_TIMEOUT=60s\n');
    const host = await run({ WASM_MODULE: `${base}/m.wasm`, WASM_FETCH_REDIRECT_HOSTS: 'https://cdn.example.com' });
    expect(host.status).toBe(2);
    expect(host.stderr).toContain("WASM_FETCH_REDIRECT_HOSTS: 'https://cdn.example.com' is not a host name");
  });

  test.each([
    [
      'the wasm header then zeros',
      (): Buffer => Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.alloc(10 * 1024 * 1024)]),
      'is not a valid WebAssembly module: custom section at byte 8 has no name',
    ],
    [
      'the wasm header then 3.5 million empty custom sections',
      (): Buffer => Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.alloc(3 * 3.5 * 1024 * 1024, Buffer.from([0, 1, 0]))]),
      "exports neither 'transform' nor 'filter'",
    ],
    [
      'a million imports',
      (): Buffer => {
        const imports = Buffer.alloc(1_000_000 * 4); // module "", name "", function of type 0
        const leb = (value: number): number[] => {
          const out: number[] = [];
          do {
            let byte = value & 0x7f;
            value >>>= 7;
            if (value !== 0) byte |= 0x80;
            out.push(byte);
          } while (value !== 0);
          return out;
        };
        const content = Buffer.concat([Buffer.from(leb(1_000_000)), imports]);
        return Buffer.concat([
          Buffer.from('\0asm\x01\0\0\0', 'latin1'),
          Buffer.from([1, 4, 1, 0x60, 0, 0]), // one type: () -> ()
          Buffer.from([2, ...leb(content.length)]),
          content,
        ]);
      },
      "the module declares 1000000 imports, more than the engine's limit of 100000",
    ],
  ])('parsing %s stays within a small heap (the bin runs with 64 MB of JS heap) and ends with exit 2', async (_shape, make, expected) => {
    const file = path.join(dir, 'shaped.wasm');
    fs.writeFileSync(file, make());
    const result = await run({ WASM_MODULE: file, NODE_OPTIONS: '--max-old-space-size=64' });
    expect(result.stderr).toContain(expected);
    expect(result.status).toBe(2);
  });
});
