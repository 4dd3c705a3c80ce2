// stdin:// (one message per line) and stdout:// (one JSON line per message). With WASM_MODULE, this pair is the
// local module runner: `SOURCE_URI=stdin:// SINK_URI=stdout:// WASM_MODULE=x.wasm wasm-pipes < sample.txt`.
import { registerScheme } from '../../registry';
import type { SinkDriver } from '../../sink';
import type { Message } from '../../message';
import { StreamLineSource } from './streamSource';
import { encodeEnvelope, lineFormat, LineFormat } from './jsonLines';
import { parseDuration } from '../../config';
import { ConnectorError } from '../../errors';

/** Writes lines to a stream and confirms once the stream took them (the write callback). */
export class LineWriter implements SinkDriver {
  constructor(
    readonly scheme: string,
    private readonly stream: NodeJS.WritableStream,
    private readonly format: LineFormat,
    private readonly closeStream: boolean,
  ) {}

  write(batch: readonly Message[]): Promise<void> {
    let text = '';
    for (const message of batch) {
      text += (this.format === 'envelope' ? encodeEnvelope(message) : message.text()) + '\n';
    }
    return new Promise((resolve, reject) => {
      this.stream.write(text, (error) =>
        error ? reject(new ConnectorError(error.message, { scheme: this.scheme, cause: error })) : resolve(),
      );
    });
  }

  close(): Promise<void> {
    if (!this.closeStream) return Promise.resolve();
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

registerScheme({
  schemes: ['stdin'],
  description: 'standard input, one message per line (a JSON envelope line keeps id, key and metadata)',
  sourceExample: 'stdin://',
  sourceParams: ['format', 'redelivery_delay'],
  openSource: (uri) =>
    new StreamLineSource(
      'stdin',
      () => process.stdin,
      lineFormat(uri, 'envelope'),
      'stdin-',
      parseDuration(uri.params.get('redelivery_delay') ?? 100, `${uri.variable} redelivery_delay`),
    ),
});

registerScheme({
  schemes: ['stdout'],
  description: 'standard output, one JSON line per message ({"id","key","metadata","body"|"body_base64"}); format=lines writes bodies only',
  sinkExample: 'stdout://',
  sinkParams: ['format'],
  openSink: (uri) => new LineWriter('stdout', process.stdout, lineFormat(uri, 'envelope'), false),
  sinkDefaults: { concurrency: 1, batch: { count: 512, linger: 0 } },
});
