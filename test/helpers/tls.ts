// Self-signed certificates for the tests of TLS servers (admin, webhook, module downloads).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A self-signed certificate for 127.0.0.1 and localhost, and another key that does not match it, made with openssl
 * in `dir` (by default a new temporary folder; the caller removes it).
 */
export function selfSignedCertificate(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-tls-'))): {
  dir: string;
  cert: string;
  key: string;
  otherKey: string;
} {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const otherKey = path.join(dir, 'other-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  execFileSync('openssl', ['genrsa', '-out', otherKey, '2048'], { stdio: 'ignore' });
  return { dir, cert, key, otherKey };
}
