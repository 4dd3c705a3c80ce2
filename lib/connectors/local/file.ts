// file:///path: a JSON-lines file. As a sink it appends one envelope line per message (acked once written to the
// file; `?fsync=true` also syncs each batch to disk). As a source it reads the file once and completes at its end.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { registerScheme, type EndpointUri } from '../../registry';
import type { SinkDriver } from '../../sink';
import type { Message } from '../../message';
import { StreamLineSource, type LineInput } from './streamSource';
import { encodeEnvelope, lineFormat, type LineFormat } from './jsonLines';
import { parseBoolean, parseDuration } from '../../config';
import { ConfigError, ConnectorError } from '../../errors';
import { writeAll } from './writeAll';

function filePath(uri: EndpointUri): string {
  const host = uri.url.host;
  const pathname = decodeURIComponent(uri.url.pathname);
  // file://./out.jsonl and file://../x are relative to the working directory
  if (host === '.' || host === '..') return path.resolve(host + pathname);
  if (host !== '' && host !== 'localhost') {
    throw new ConfigError(`file:// takes a local path, not a host ('${host}'); write file:///absolute/path or file://./relative`, {
      variable: uri.variable,
    });
  }
  if (pathname === '' || pathname === '/') {
    throw new ConfigError('file:// needs a path, for example file:///tmp/messages.jsonl', { variable: uri.variable });
  }
  return pathname;
}

/**
 * Opens a file for the source. A line's id is the file's name, a token of the file's identity and the line number:
 * the same file read again gives the same ids (a deduplicating sink keeps one copy), while another file at the same
 * path, or the same file rewritten or appended to, gives new ones, so that new data is never taken for a duplicate.
 */
function openFileInput(target: string): LineInput {
  const fd = fs.openSync(target, 'r');
  let stat: fs.BigIntStats;
  try {
    stat = fs.fstatSync(fd, { bigint: true });
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  const token = createHash('sha256')
    .update([stat.dev, stat.ino, stat.birthtimeNs, stat.mtimeNs, stat.ctimeNs, stat.size].join(':'))
    .digest('hex')
    .slice(0, 12);
  const name = path.basename(target);
  return { stream: fs.createReadStream('', { fd }), idOf: (line) => `${name}:${token}:${line}` };
}

class FileSink implements SinkDriver {
  readonly scheme = 'file';
  private handle: Promise<fs.promises.FileHandle> | undefined;
  /** Batches are written one after another, so that a failed one can be cut off the end of the file. */
  private tail: Promise<unknown> = Promise.resolve();
  /** The file does not end with a newline (a line torn before we opened it): the next batch starts a new line. */
  private needsNewline = false;

  constructor(
    private readonly target: string,
    private readonly format: LineFormat,
    private readonly fsync: boolean,
  ) {}

  private open(): Promise<fs.promises.FileHandle> {
    this.handle ??= fs.promises.mkdir(path.dirname(this.target), { recursive: true }).then(async () => {
      // read access only to see whether the file ends mid-line; a write-only file is appended to as it is
      let readable = true;
      const handle = await fs.promises.open(this.target, 'a+').catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EACCES') throw error;
        readable = false;
        return fs.promises.open(this.target, 'a');
      });
      const { size } = await handle.stat();
      if (readable && size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        this.needsNewline = last[0] !== 0x0a;
      }
      return handle;
    });
    return this.handle;
  }

  write(batch: readonly Message[]): Promise<void> {
    let text = '';
    for (const message of batch) {
      text += (this.format === 'envelope' ? encodeEnvelope(message) : message.text()) + '\n';
    }
    const written = this.tail.then(() => this.append(text));
    this.tail = written.catch(() => undefined);
    return written;
  }

  /**
   * Appends the batch whole or not at all: on a full disk the file may take only part of it, and a batch that
   * failed is retried (or redelivered), so the part written is cut off again rather than left as a torn line or a
   * duplicate of what the retry writes.
   */
  private async append(text: string): Promise<void> {
    let handle: fs.promises.FileHandle | undefined;
    let sizeBefore: number | undefined;
    try {
      handle = await this.open();
      sizeBefore = (await handle.stat()).size;
      const bytes = Buffer.from(this.needsNewline ? '\n' + text : text, 'utf8');
      await writeAll(
        (buffer, offset, length) => (handle as fs.promises.FileHandle).write(buffer, offset, length).then((result) => result.bytesWritten),
        bytes,
      );
      this.needsNewline = false;
      if (this.fsync) await handle.sync();
    } catch (error) {
      if (handle !== undefined && sizeBefore !== undefined) {
        await handle.truncate(sizeBefore).catch(() => undefined);
      }
      // reopen next time: the descriptor may be what failed (a removed mount, a closed file)
      this.handle = undefined;
      await handle?.close().catch(() => undefined);
      throw new ConnectorError((error as Error).message, { scheme: 'file', host: this.target, cause: error });
    }
  }

  async close(): Promise<void> {
    await this.tail;
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) await (await handle).close();
  }
}

registerScheme({
  schemes: ['file'],
  description: 'a JSON-lines file: the sink appends envelope lines, the source reads them back and completes at the end',
  sourceExample: 'file:///var/data/in.jsonl',
  sinkExample: 'file:///var/data/out.jsonl',
  sourceParams: ['format', 'redelivery_delay'],
  sinkParams: ['format', 'fsync'],
  openSource: (uri) => {
    const target = filePath(uri);
    return new StreamLineSource(
      'file',
      () => openFileInput(target),
      lineFormat(uri, 'envelope'),
      parseDuration(uri.params.get('redelivery_delay') ?? 100, `${uri.variable} redelivery_delay`),
    );
  },
  openSink: (uri) =>
    new FileSink(filePath(uri), lineFormat(uri, 'envelope'), parseBoolean(uri.params.get('fsync') ?? 'false', `${uri.variable} fsync`)),
  sinkDefaults: { concurrency: 1, batch: { count: 1024, linger: 0 } },
});
