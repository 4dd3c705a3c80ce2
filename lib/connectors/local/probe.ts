// `wasm-pipes check` for the local schemes: mem://, stdin:// and stdout:// need nothing; file:// needs a file it can
// read (source) or a file or directory it can write (sink). Nothing is read or written.
import fs from 'node:fs';
import path from 'node:path';
import type { EndpointUri } from '../../registry';

/** The path of a file:// URI, as the connector reads it (file://./relative, file:///absolute). */
function filePath(uri: EndpointUri): string {
  const host = uri.url.host;
  const pathname = decodeURIComponent(uri.url.pathname);
  return host === '.' || host === '..' ? path.resolve(host + pathname) : pathname;
}

function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT'
    ? 'does not exist'
    : code === 'EACCES' || code === 'EPERM'
      ? 'is not allowed to this user'
      : (error as Error).message;
}

export async function probeSource(uri: EndpointUri): Promise<string> {
  if (uri.scheme === 'mem') return 'an in-process topic';
  if (uri.scheme === 'stdin') return 'standard input';
  const target = filePath(uri);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(target);
    await fs.promises.access(target, fs.constants.R_OK);
  } catch (error) {
    throw new Error(`reading ${target} ${fsReason(error)}; give the path of an existing JSON-lines file this user can read`, {
      cause: error,
    });
  }
  if (!stat.isFile()) throw new Error(`${target} is not a file; give the path of a JSON-lines file`);
  return `a readable file of ${stat.size} bytes`;
}

export async function probeSink(uri: EndpointUri): Promise<string> {
  if (uri.scheme === 'mem') return 'an in-process topic';
  if (uri.scheme === 'stdout') return 'standard output';
  const target = filePath(uri);
  try {
    const stat = await fs.promises.stat(target);
    if (!stat.isFile()) throw new Error(`${target} is not a file; give the path of a file to append to`);
    await fs.promises.access(target, fs.constants.W_OK);
    return `a writable file of ${stat.size} bytes (appended to)`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      if ((error as NodeJS.ErrnoException).code === undefined) throw error;
      throw new Error(`writing ${target} ${fsReason(error)}; give a file this user can write, or change its permissions`, { cause: error });
    }
  }
  const directory = path.dirname(target);
  try {
    await fs.promises.access(directory, fs.constants.W_OK);
  } catch (error) {
    throw new Error(
      `the directory ${directory} ${fsReason(error)} for writing; create it, or give a path in a directory this user can write`,
      { cause: error },
    );
  }
  return `a new file in a writable directory`;
}
