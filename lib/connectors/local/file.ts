// file:///path: a JSON-lines file. As a sink it appends one envelope line per message (acked once written to the
// file; `?fsync=true` also syncs each batch to disk). As a source it reads the file once and completes at its end.
import fs from 'node:fs';
import path from 'node:path';
import { registerScheme, EndpointUri } from '../../registry';
import type { SinkDriver } from '../../sink';
import type { Message } from '../../message';
import { StreamLineSource } from './streamSource';
import { encodeEnvelope, lineFormat, LineFormat } from './jsonLines';
import { parseBoolean, parseDuration } from '../../config';
import { ConfigError, ConnectorError } from '../../errors';

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

class FileSink implements SinkDriver {
  readonly scheme = 'file';
  private handle: Promise<fs.promises.FileHandle> | undefined;

  constructor(
    private readonly target: string,
    private readonly format: LineFormat,
    private readonly fsync: boolean,
  ) {}

  private open(): Promise<fs.promises.FileHandle> {
    this.handle ??= fs.promises.mkdir(path.dirname(this.target), { recursive: true }).then(() => fs.promises.open(this.target, 'a'));
    return this.handle;
  }

  async write(batch: readonly Message[]): Promise<void> {
    let text = '';
    for (const message of batch) {
      text += (this.format === 'envelope' ? encodeEnvelope(message) : message.text()) + '\n';
    }
    try {
      const handle = await this.open();
      await handle.write(text);
      if (this.fsync) await handle.sync();
    } catch (error) {
      this.handle = undefined;
      throw new ConnectorError((error as Error).message, { scheme: 'file', host: this.target, cause: error });
    }
  }

  async close(): Promise<void> {
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
      () => fs.createReadStream(target),
      lineFormat(uri, 'envelope'),
      `${path.basename(target)}:`,
      parseDuration(uri.params.get('redelivery_delay') ?? 100, `${uri.variable} redelivery_delay`),
    );
  },
  openSink: (uri) =>
    new FileSink(filePath(uri), lineFormat(uri, 'envelope'), parseBoolean(uri.params.get('fsync') ?? 'false', `${uri.variable} fsync`)),
  sinkDefaults: { concurrency: 1, batch: { count: 1024, linger: 0 } },
});
