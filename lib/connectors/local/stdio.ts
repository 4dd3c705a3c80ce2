// stdin:// (one message per line) and stdout:// (one JSON line per message). With WASM_MODULE, this pair is the
// local module runner: `SOURCE_URI=stdin:// SINK_URI=stdout:// WASM_MODULE=x.wasm wasm-pipes < sample.txt`.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import tty from 'node:tty';
import { registerScheme } from '../../registry';
import type { SinkDriver } from '../../sink';
import type { Message } from '../../message';
import { StreamLineSource } from './streamSource';
import { encodeEnvelope, lineFormat, type LineFormat } from './jsonLines';
import { parseDuration } from '../../config';
import { ConnectorError } from '../../errors';
import { descriptorWriter, PartialWriteError, writeAll } from './writeAll';

/**
 * stdout://: one line per message on file descriptor 1, acked once all of its bytes were taken. Redirected to a file
 * (or a device such as /dev/null), the lines are written to the descriptor directly, until every byte is taken:
 * Node's own stdout stream for files ignores a short write and throws on ENOSPC. To a pipe or a terminal they go
 * through process.stdout, whose errors (EPIPE when the reader left) fail the batch instead of ending the process.
 */
export class StdoutSink implements SinkDriver {
  readonly scheme = 'stdout';
  private direct: boolean | undefined;
  /** Batches go out one after another, so that lines never interleave. */
  private tail: Promise<unknown> = Promise.resolve();
  /** A failed write left part of a line on the file: the next batch starts on a line of its own. */
  private torn = false;

  constructor(
    private readonly format: LineFormat,
    private readonly fd = 1,
    private readonly stream: () => NodeJS.WritableStream = () => process.stdout,
  ) {}

  write(batch: readonly Message[]): Promise<void> {
    let text = '';
    for (const message of batch) {
      text += (this.format === 'envelope' ? encodeEnvelope(message) : message.text()) + '\n';
    }
    const written = this.tail.then(() => (this.writesDirectly() ? this.writeToDescriptor(text) : this.writeToStream(text)));
    this.tail = written.catch(() => undefined);
    return written;
  }

  private writesDirectly(): boolean {
    if (this.direct === undefined) {
      try {
        const stat = fs.fstatSync(this.fd);
        this.direct = stat.isFile() || (stat.isCharacterDevice() && !tty.isatty(this.fd));
      } catch {
        this.direct = false;
      }
    }
    return this.direct;
  }

  private async writeToDescriptor(text: string): Promise<void> {
    const bytes = Buffer.from(this.torn ? '\n' + text : text, 'utf8');
    try {
      await writeAll(descriptorWriter(this.fd), bytes);
      this.torn = false;
    } catch (error) {
      // the file's position cannot be moved back (another writer may share it), so the fragment stays; the message
      // is written again whole, on a new line
      if (error instanceof PartialWriteError && error.written > 0) this.torn = bytes[error.written - 1] !== 0x0a;
      throw new ConnectorError((error as Error).message, { scheme: this.scheme, cause: error });
    }
  }

  private writeToStream(text: string): Promise<void> {
    const stream = this.stream();
    guardAgainstStreamErrors(stream);
    return new Promise((resolve, reject) => {
      stream.write(text, (error) => (error ? reject(new ConnectorError(error.message, { scheme: this.scheme, cause: error })) : resolve()));
    });
  }

  async close(): Promise<void> {
    await this.tail;
  }
}

const guardedStreams = new WeakSet<NodeJS.WritableStream>();

/** Without a listener, an 'error' on stdout (EPIPE, ENOSPC) ends the process; the write callbacks report it instead. */
function guardAgainstStreamErrors(stream: NodeJS.WritableStream): void {
  if (guardedStreams.has(stream)) return;
  guardedStreams.add(stream);
  stream.on('error', () => undefined);
}

registerScheme({
  schemes: ['stdin'],
  description: 'standard input, one message per line (a JSON envelope line keeps id, key and metadata)',
  sourceExample: 'stdin://',
  sourceParams: ['format', 'redelivery_delay'],
  openSource: (uri) =>
    new StreamLineSource(
      'stdin',
      () => {
        // the line number alone repeats in every run, and sinks that deduplicate by id (JetStream's Nats-Msg-Id,
        // SQS FIFO, Service Bus) would drop the second run's lines as duplicates of the first's
        const run = randomBytes(6).toString('hex');
        return { stream: process.stdin, processOwned: true, idOf: (line) => `stdin-${run}-${line}` };
      },
      lineFormat(uri, 'envelope'),
      parseDuration(uri.params.get('redelivery_delay') ?? 100, `${uri.variable} redelivery_delay`),
    ),
});

registerScheme({
  schemes: ['stdout'],
  description: 'standard output, one JSON line per message ({"id","key","metadata","body"|"body_base64"}); format=lines writes bodies only',
  sinkExample: 'stdout://',
  sinkParams: ['format'],
  openSink: (uri) => new StdoutSink(lineFormat(uri, 'envelope')),
  sinkDefaults: { concurrency: 1, batch: { count: 512, linger: 0 } },
});
