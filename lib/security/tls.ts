// TLS certificate and key files named by environment variables (the HTTP source, the admin server): read and checked
// at start-up, so that a missing, unreadable or mismatched pair is a ConfigError naming the variable, not a failure
// at the first connection.
import fs from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from '../errors';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads the PEM files that `certVariable` and `keyVariable` name in `env`: undefined when neither is set, a
 * ConfigError when only one is, when a file cannot be read, or when the key does not fit the certificate.
 */
export function readTlsFiles(env: NodeJS.ProcessEnv, certVariable: string, keyVariable: string): TlsFiles | undefined {
  const certPath = env[certVariable]?.trim() || undefined;
  const keyPath = env[keyVariable]?.trim() || undefined;
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    const missing = certPath === undefined ? certVariable : keyVariable;
    throw new ConfigError(`TLS needs both ${certVariable} and ${keyVariable} (paths to PEM files); ${missing} is not set`, {
      variable: missing,
    });
  }
  const read = (path: string, variable: string): Buffer => {
    try {
      return fs.readFileSync(path);
    } catch (error) {
      throw new ConfigError(`cannot read '${path}': ${(error as Error).message}; give the path of a PEM file`, { variable, cause: error });
    }
  };
  const files = { cert: read(certPath, certVariable), key: read(keyPath, keyVariable) };
  try {
    tls.createSecureContext(files);
  } catch (error) {
    throw new ConfigError(
      `the certificate and key are not a valid PEM pair (${(error as Error).message}); check that ${keyVariable} is the key of ${certVariable}`,
      { variable: keyVariable, cause: error },
    );
  }
  return files;
}
