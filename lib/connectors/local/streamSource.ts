// A source over a readable byte stream of lines (stdin://, file://): lines wait in a local queue with redelivery,
// and the stream is paused while the queue is full, so memory stays bounded by the window and the queue.
import type { Readable } from 'node:stream';
import { LocalConsumer, LocalQueue } from './localQueue';
import type { SourceContext } from '../../source';
import type { QueuedMessage } from './localQueue';
import { decodeLine, type LineFormat, LineSplitter } from './jsonLines';
import { ConnectorError } from '../../errors';

const HIGH_WATER = 1024;

/** An opened input: the byte stream, and the id of a line that does not carry one (by its 1-based number). */
export interface LineInput {
  readonly stream: Readable;
  idOf(lineNumber: number): string;
  /** The process's own stream (stdin): paused at close, not destroyed. */
  readonly processOwned?: boolean;
}

export class StreamLineSource extends LocalConsumer {
  override readonly local = true;
  private input: LineInput | undefined;
  private paused = false;
  private lines = 0;

  constructor(
    scheme: string,
    private readonly openInput: () => LineInput,
    private readonly format: LineFormat,
    redeliveryBaseMs: number,
  ) {
    super(scheme, new LocalQueue(redeliveryBaseMs, HIGH_WATER));
  }

  override start(context: SourceContext<QueuedMessage>): void {
    let input: LineInput;
    try {
      input = this.openInput();
    } catch (error) {
      throw new ConnectorError((error as Error).message, { scheme: this.scheme, cause: error, retryable: false });
    }
    super.start(context);
    this.input = input;
    const stream = input.stream;
    stream.setEncoding('utf8');
    const splitter = new LineSplitter();
    const onLine = (line: string): void => {
      const init = decodeLine(line, this.format);
      this.lines++;
      init.id ??= input.idOf(this.lines);
      this.queue.push(init);
    };
    stream.on('data', (chunk: string) => {
      splitter.push(chunk, onLine);
      if (this.queue.full && !this.paused) {
        this.paused = true;
        stream.pause();
      }
    });
    stream.on('end', () => {
      splitter.end(onLine);
      this.endOfInput();
    });
    stream.on('error', (error) => {
      context.error(new ConnectorError(error.message, { scheme: this.scheme, cause: error, retryable: false }));
    });
  }

  protected override afterTake(): void {
    if (this.paused && this.queue.length < HIGH_WATER / 2 && !this.closed) {
      this.paused = false;
      this.input?.stream.resume();
    }
  }

  stopIntake(): void {
    this.input?.stream.pause();
    this.paused = true;
  }

  /** Lines read but not delivered when the source closed (a stop before the input ended): nothing will deliver them. */
  get undelivered(): number {
    return this.closed ? this.queue.length + this.queue.redeliveriesPending : 0;
  }

  override async close(): Promise<void> {
    await super.close();
    // by the input's mark, not by comparing with process.stdin: reading process.stdin would open stdin in a process
    // that never used it
    const input = this.input;
    if (input === undefined) return;
    if (input.processOwned === true) input.stream.pause();
    else input.stream.destroy();
  }
}
