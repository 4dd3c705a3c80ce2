// The message and its settlement: the heart of the design (DESIGN.md section 2).
// A Settlement is settled once (ack or nack); derived messages either share their parent's Settlement (1 -> 1)
// or hold a child Settlement that reports to a group (1 -> N): the parent is acked when every child is acked,
// and nacked at the first child nack.

/** Told once when a settlement is settled. `error` is undefined for an ack. */
export interface SettlementHandler {
  settled(settlement: Settlement, error: Error | undefined): void;
}

const PENDING = 0;
const ACKED = 1;
const NACKED = 2;

/**
 * The settlement state of one source message, or of one child of a split.
 * Also a node of the credit window's intrusive list (prev/next), so that tracking costs no allocation.
 */
export class Settlement {
  state: 0 | 1 | 2 = PENDING;
  error: Error | undefined = undefined;
  /** The last pipeline stage that saw the message, for the ackTimeout diagnostic. Kept on the root. */
  stage: string | undefined = undefined;
  /** The root settlement (the source message's), so that children can mark stages on it. */
  readonly root: Settlement;
  /** @internal credit-window bookkeeping */
  prev: Settlement | undefined = undefined;
  /** @internal credit-window bookkeeping */
  next: Settlement | undefined = undefined;
  /** @internal coarse receive time (ms) for ackTimeout */
  receivedAt = 0;
  /** @internal precise receive time (performance.now()) of a message timed for the latency histogram; 0 = not timed */
  sampledAt = 0;

  constructor(
    readonly handler: SettlementHandler | undefined,
    /** Whatever the handler needs to settle the original (a broker delivery, an HTTP response). */
    readonly token: unknown = undefined,
    root?: Settlement,
  ) {
    this.root = root ?? this;
  }

  get settled(): boolean {
    return this.state !== PENDING;
  }

  ack(): void {
    if (this.state !== PENDING) return;
    this.state = ACKED;
    if (this.handler !== undefined) this.handler.settled(this, undefined);
  }

  nack(error: Error = new Error('nacked')): void {
    if (this.state !== PENDING) return;
    this.state = NACKED;
    this.error = error;
    if (this.handler !== undefined) this.handler.settled(this, error);
  }
}

/** Settles a parent once all of its children are acked, or at the first child nack. */
class ChildGroup implements SettlementHandler {
  private pending: number;
  constructor(
    private readonly parent: Settlement,
    count: number,
  ) {
    this.pending = count;
  }

  settled(_child: Settlement, error: Error | undefined): void {
    if (error !== undefined) {
      this.parent.nack(error);
    } else if (--this.pending === 0) {
      this.parent.ack();
    }
  }
}

/** What a message is made of; `body` may be given as text. */
export interface MessageInit {
  id?: string;
  body: Buffer | Uint8Array | string;
  metadata?: Record<string, string>;
  key?: string;
}

/** Changes for a derived message; what is left out is kept from the parent. */
export interface MessageChanges {
  id?: string;
  body?: Buffer | Uint8Array | string;
  metadata?: Record<string, string>;
  /** `null` removes the key. */
  key?: string | null;
}

const EMPTY_METADATA: Readonly<Record<string, string>> = Object.freeze({});
let generatedIds = 0;
const idPrefix = `${process.pid.toString(36)}-${Date.now().toString(36)}-`;

/** A process-unique message id, cheap enough for every message of an embedded source. */
export function nextMessageId(): string {
  return idPrefix + (++generatedIds).toString(36);
}

export function toBuffer(body: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * One message on its way from a source to the sinks. Settle it exactly once: `ack()` when it is done
 * (delivered, or dropped on purpose), `nack(error)` when it failed and the source should redeliver it.
 */
export class Message {
  readonly id: string;
  readonly body: Buffer;
  readonly metadata: Readonly<Record<string, string>>;
  readonly key?: string;
  /** @internal shared with derived messages; use ack()/nack() */
  readonly settlement: Settlement;

  constructor(init: MessageInit, settlement: Settlement = new Settlement(undefined)) {
    this.id = init.id ?? nextMessageId();
    this.body = toBuffer(init.body);
    this.metadata = init.metadata ?? EMPTY_METADATA;
    this.key = init.key; // always assigned, so that every Message has one shape
    this.settlement = settlement;
  }

  /**
   * A message with no source behind it; `onSettled` is told the outcome (`error` undefined = ack).
   * Useful in tests and for feeding a sink directly.
   */
  static create(init: MessageInit, onSettled?: (error: Error | undefined, message: Message) => void): Message {
    if (onSettled === undefined) return new Message(init);
    let message: Message | undefined = undefined;
    const settlement = new Settlement({ settled: (_s, error) => onSettled(error, message as Message) });
    message = new Message(init, settlement);
    return message;
  }

  /** Whether ack() or nack() was called (on this message, or on one sharing its settlement). */
  get settled(): boolean {
    return this.settlement.state !== PENDING;
  }

  ack(): void {
    this.settlement.ack();
  }

  nack(error?: Error): void {
    this.settlement.nack(error);
  }

  /** The body as UTF-8 text. */
  text(): string {
    return this.body.toString('utf8');
  }

  /** The body parsed as JSON; throws a SyntaxError for a body that is not JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.body.toString('utf8')) as T;
  }

  /** A 1 -> 1 derived message: same settlement, so acking either settles both. */
  with(changes: MessageChanges): Message {
    return new Message(
      {
        id: changes.id ?? this.id,
        body: changes.body ?? this.body,
        metadata: changes.metadata ?? (this.metadata as Record<string, string>),
        key: changes.key === null ? undefined : (changes.key ?? this.key),
      },
      this.settlement,
    );
  }

  /**
   * A 1 -> N derived set: the parent is acked when every output is acked, nacked at the first nack, and acked
   * at once when `outputs` is empty. Output i gets the id `<parent id>:<i>` unless it names its own, so that
   * a redelivered parent yields the same ids (for downstream deduplication).
   */
  split(outputs: readonly MessageChanges[]): Message[] {
    const count = outputs.length;
    if (count === 0) {
      this.settlement.ack();
      return [];
    }
    const group = new ChildGroup(this.settlement, count);
    const root = this.settlement.root;
    const children = new Array<Message>(count);
    for (let i = 0; i < count; i++) {
      const changes = outputs[i];
      children[i] = new Message(
        {
          id: changes.id ?? `${this.id}:${i}`,
          body: changes.body ?? this.body,
          metadata: changes.metadata ?? (this.metadata as Record<string, string>),
          key: changes.key === null ? undefined : (changes.key ?? this.key),
        },
        new Settlement(group, undefined, root),
      );
    }
    return children;
  }

  /** N identical copies that settle the parent together (fan-out): same id, body and metadata. */
  fork(count: number): Message[] {
    if (count === 1) return [this];
    const copies = new Array<MessageChanges>(count);
    for (let i = 0; i < count; i++) copies[i] = { id: this.id };
    return this.split(copies);
  }
}

/** Records that `stage` saw the message, so an ackTimeout warning can say where it was last seen. */
export function markStage(message: Message, stage: string): void {
  message.settlement.root.stage = stage;
}

/**
 * A 1 -> 1 derived message that tells `observer` how it was settled (`error` undefined = ack), after settling
 * `message` the same way. For operators that must undo or confirm something once the sinks are done with a
 * message (dedupe releases its claim on a nack). `observer` must not throw.
 */
export function observeSettlement(message: Message, observer: (error: Error | undefined) => void): Message {
  const parent = message.settlement;
  const settlement = new Settlement(
    {
      settled: (_settlement, error) => {
        if (error === undefined) parent.ack();
        else parent.nack(error);
        observer(error);
      },
    },
    undefined,
    parent.root,
  );
  return new Message(
    { id: message.id, body: message.body, metadata: message.metadata as Record<string, string>, key: message.key },
    settlement,
  );
}
