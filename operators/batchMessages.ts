import { Observable, type OperatorFunction } from 'rxjs';
import { joinMessages, markStage, type Message, type MessageInit } from '../lib/message';
import { parseDuration, parseSize, parseInteger } from '../lib/config';
import { ConfigError, toError } from '../lib/errors';
import { linkObserver } from '../lib/source';
import { openStage, closeStage } from '../lib/metrics';

/** How the parts of a batch become its body. */
export type BatchFormat = 'json' | 'lines' | ((parts: readonly Message[]) => Buffer | string | MessageInit);

export interface BatchMessagesOptions {
  /** Most messages in a batch. Default 100. */
  count?: number;
  /** Most body bytes in a batch (`1mb`, or a number); a single larger message is a batch of its own. Default 1 MiB. */
  bytes?: number | string;
  /** Longest a batch waits for more messages after its first (`200ms`, or ms). Default 1 s. */
  time?: number | string;
  /**
   * The batch's body: `json` (default) a JSON array of the parts' bodies (each as JSON when it is valid JSON, else as
   * a string); `lines` the bodies joined by newlines; or a function of the parts.
   */
  format?: BatchFormat;
  /** The name in stats and /metrics. Default `batchMessages`. */
  name?: string;
}

/** The bodies batchMessages built, so that unbatch() can give back the original parts of an unchanged batch. */
export const builtBatches = new WeakMap<Buffer, readonly Message[]>();

function jsonElement(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    JSON.parse(text);
    return text;
  } catch {
    return JSON.stringify(text);
  }
}

function batchInit(parts: readonly Message[], format: BatchFormat): MessageInit {
  const first = parts[0];
  const last = parts[parts.length - 1];
  const key = parts.every((part) => part.key === first.key) ? first.key : undefined;
  const base: MessageInit = {
    id: parts.length === 1 ? first.id : `${first.id}..${last.id}`,
    body: '',
    key,
    metadata: { 'batch-count': String(parts.length) },
  };
  if (format === 'json')
    return {
      ...base,
      body: `[${parts.map((part) => jsonElement(part.body)).join(',')}]`,
      metadata: { ...base.metadata, 'content-type': 'application/json' },
    };
  if (format === 'lines')
    return { ...base, body: Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [part.body] : [Buffer.from('\n'), part.body]))) };
  const made = format(parts);
  if (typeof made === 'string' || Buffer.isBuffer(made)) return { ...base, body: made };
  return { ...base, ...made };
}

/**
 * Joins messages into batches: N messages become one message whose body holds all of theirs, for one HTTP POST or
 * one wasm call per batch. The batch settles its parts: acking it acks all N, nacking it nacks all N. A batch goes
 * out when it has `count` messages or `bytes` of bodies, `time` after its first message, when the source's credit
 * window is full (so a window smaller than `count` cannot deadlock), and when the input ends. Sinks that batch
 * writes natively (Kafka, SQS, SNS, Pub/Sub, Service Bus) need not this operator: their sinks already do.
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { batchMessages } from 'wasm-pipes/operators';
 *
 * // one POST of a JSON array per 100 events (or per second)
 * await run(source('nats://events').pipe(batchMessages({ count: 100, time: '1s' })), sink('http://127.0.0.1:8080/bulk'));
 *
 * @see unbatch
 */
export function batchMessages(options: BatchMessagesOptions = {}): OperatorFunction<Message, Message> {
  const count = parseInteger(options.count ?? 100, 'batchMessages count', 1);
  const bytes = parseSize(options.bytes ?? 1024 * 1024, 'batchMessages bytes');
  const time = parseDuration(options.time ?? 1000, 'batchMessages time');
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'lines' && typeof format !== 'function') {
    throw new ConfigError(`format must be 'json', 'lines' or a function of the parts, not '${String(format)}'`, {
      variable: 'batchMessages',
    });
  }
  const name = options.name ?? 'batchMessages';
  return (upstream) =>
    new Observable<Message>((subscriber) => {
      const stats = openStage('operator', name);
      let parts: Message[] = [];
      let size = 0;
      let timer: NodeJS.Timeout | undefined;

      const flush = (): void => {
        if (timer !== undefined) {
          clearTimeout(timer);
          timer = undefined;
        }
        // parts settled meanwhile (timed out, nacked by a shutdown) are not written
        const live = parts.filter((part) => !part.settled);
        parts = [];
        size = 0;
        if (live.length === 0) return;
        let batch: Message;
        try {
          batch = joinMessages(live, batchInit(live, format));
        } catch (error) {
          stats.nacked += live.length;
          stats.error('format');
          for (const part of live) part.nack(toError(error));
          return;
        }
        builtBatches.set(batch.body, live);
        stats.emitted++;
        markStage(batch, name);
        subscriber.next(batch);
      };

      /** Whether the window of a part's source is full: nothing more will come until this batch settles. */
      const windowFull = (message: Message): boolean => {
        const owner = message.settlement.root.owner;
        return owner !== undefined && owner.credit <= 0;
      };

      const subscription = upstream.subscribe(
        linkObserver<Message>(subscriber, {
          next(message) {
            stats.received++;
            if (parts.length > 0 && size + message.body.length > bytes) flush();
            parts.push(message);
            size += message.body.length;
            if (parts.length >= count || size >= bytes || windowFull(message)) flush();
            else if (timer === undefined) timer = setTimeout(flush, time);
          },
          error: (error) => {
            if (timer !== undefined) clearTimeout(timer);
            subscriber.error(error);
          },
          complete: () => {
            flush();
            subscriber.complete();
          },
        }),
      );
      return () => {
        if (timer !== undefined) clearTimeout(timer);
        subscription.unsubscribe();
        closeStage(stats);
      };
    });
}
