// mem://topic: in-process topics, for tests and for chaining pipelines inside one process. A topic is a queue:
// each message goes to one of its subscribers (competing consumers); a nacked message is redelivered after a
// backoff, like gocloud's mempubsub. Messages published before anyone subscribes wait in the topic.
import { registerScheme, type EndpointUri } from '../../registry';
import { LocalConsumer, LocalQueue } from './localQueue';
import type { SinkDriver } from '../../sink';
import type { Message, MessageInit } from '../../message';
import { parseDuration, parseInteger } from '../../config';
import { ConfigError } from '../../errors';

const DEFAULT_MAX_BACKLOG = 100_000;
const topics = new Map<string, LocalQueue>();

function topicName(uri: EndpointUri): string {
  const name = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
  if (name === '') throw new ConfigError('mem:// needs a topic name, for example mem://orders', { variable: uri.variable });
  return name;
}

/** The in-process topic `name`, created on first use: `publish()` adds a message, `length` counts waiting ones. */
export function memTopic(name: string): MemTopic {
  let queue = topics.get(name);
  if (queue === undefined) {
    queue = new LocalQueue(50, DEFAULT_MAX_BACKLOG);
    topics.set(name, queue);
  }
  return new MemTopic(name, queue);
}

export class MemTopic {
  constructor(
    readonly name: string,
    /** @internal */
    readonly queue: LocalQueue,
  ) {}

  /** Adds a message without waiting (no backlog limit): for tests and benchmarks that preload a topic. */
  publish(init: MessageInit): void {
    this.queue.push(init);
  }

  /** Messages waiting for a subscriber. */
  get length(): number {
    return this.queue.length;
  }

  /** Drops the topic and its waiting messages. */
  delete(): void {
    topics.delete(this.name);
  }
}

class MemSink implements SinkDriver {
  readonly scheme = 'mem';
  /** A write waits for room; it never fails. */
  readonly mayFail = false;
  constructor(private readonly queue: LocalQueue) {}

  write(batch: readonly Message[]): void | Promise<void> {
    if (this.queue.full) {
      // a slow subscriber: wait for room rather than grow without bound
      return this.queue.whenSpace().then(() => this.write(batch));
    }
    this.queue.pushAll(batch);
  }

  async close(): Promise<void> {}
}

/** The topic's queue; parameters given in the URI apply to the topic even when it exists already. */
function topicQueue(uri: EndpointUri): LocalQueue {
  const queue = memTopic(topicName(uri)).queue;
  const base = uri.params.get('redelivery_delay');
  const backlog = uri.params.get('max_backlog');
  if (base !== undefined) queue.redeliveryBaseMs = parseDuration(base, `${uri.variable} redelivery_delay`);
  if (backlog !== undefined) queue.highWater = parseInteger(backlog, `${uri.variable} max_backlog`, 1);
  return queue;
}

registerScheme({
  schemes: ['mem'],
  description: 'in-process topic (tests, chaining pipelines in one process); nack -> redelivery after a backoff',
  sourceExample: 'mem://orders',
  sinkExample: 'mem://orders',
  sourceParams: ['redelivery_delay', 'max_backlog'],
  sinkParams: ['redelivery_delay', 'max_backlog'],
  openSource: (uri) => new LocalConsumer('mem', topicQueue(uri)),
  openSink: (uri) => new MemSink(topicQueue(uri)),
  sinkDefaults: { concurrency: 1 },
});
