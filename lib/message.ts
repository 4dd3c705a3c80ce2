// The message and its settlement: the heart of the design (DESIGN.md section 2, ARCHITECTURE.md).
// A Settlement is settled once (ack or nack); derived messages either share their parent's Settlement (1 -> 1)
// or hold a child Settlement that reports to a group (1 -> N): the parent is acked when every child is acked,
// and nacked at the first child nack.
// Every live message counts against the credit window of the source it came from, outputs included: the root
// settlement counts the unsettled leaves of its tree and tells its owner (the source runtime) when that count
// changes, so that a transform with 2 000 outputs per input holds the source back instead of filling memory.
import { tracingState, traceStage } from './tracing/hooks';

/** Told once when a settlement is settled. `error` is undefined for an ack. */
export interface SettlementHandler {
  settled(settlement: Settlement, error: Error | undefined): void;
}

/** The source runtime as a root settlement sees it: told when the root's tree gains or loses live leaves. */
export interface LeafCounter {
  /** Free places in the window (none or fewer: the source is waiting for settlements). */
  readonly credit: number;
  /** `delta` more live messages (outputs of a split) now hold the window. */
  leavesAdded(delta: number): void;
  /** One live output of a pending root was settled. */
  leafSettled(): void;
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
  /** The last pipeline stage that saw the message, for the ackTimeout diagnostic. Kept on the root. */
  stage: string | undefined = undefined;
  /** The root settlement (the source message's), so that children can mark stages on it. */
  readonly root: Settlement;
  /** @internal credit-window bookkeeping */
  prev: Settlement | undefined = undefined;
  /** @internal credit-window bookkeeping */
  next: Settlement | undefined = undefined;
  /** @internal coarse receive time for ackTimeout (ms on the source runtime's clock, a small integer) */
  receivedAt = 0;
  /**
   * @internal precise receive time (performance.now()) of a message timed for the latency histogram. Undefined, not 0,
   * when it is not timed: a field that only ever held numbers would keep every settlement's value in a box of its own.
   */
  sampledAt: number | undefined = undefined;
  /** @internal on a root: the unsettled leaves of its tree (1 until it is split) */
  leaves = 1;
  /** @internal on a root: messages of its tree that a sink holds (queued, writing, waiting to retry) */
  held = 0;
  /** @internal on a root: who counts its leaves against a credit window (the source runtime) */
  owner: LeafCounter | undefined = undefined;
  /** @internal false once this settlement was split: its children are the leaves */
  isLeaf = true;
  /** @internal on the root of a batch: the messages it joined, whose roots a sink holds when it holds the batch */
  joined: readonly Message[] | undefined = undefined;
  /** @internal on a root, when its pipeline traces it: its spans (lib/tracing), found in a field load by every stage */
  trace: object | undefined = undefined;

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

  /** Settled itself, or part of a tree whose root is settled already (nacked early): nothing to do for it. */
  get done(): boolean {
    return this.state !== PENDING || this.root.state !== PENDING;
  }

  ack(): void {
    if (this.state !== PENDING) return;
    this.state = ACKED;
    if (this.isLeaf && this.root !== this) this.leafDone();
    if (this.handler !== undefined) this.handler.settled(this, undefined);
  }

  nack(error: Error = new Error('nacked')): void {
    if (this.state !== PENDING) return;
    this.state = NACKED;
    if (this.isLeaf && this.root !== this) this.leafDone();
    if (this.handler !== undefined) this.handler.settled(this, error);
  }

  /** @internal a sink took (+1) or let go of (-1) a message of this root's tree; a batch passes it to what it joined */
  hold(delta: number): void {
    const joined = this.joined;
    if (joined === undefined) {
      this.held += delta;
      return;
    }
    for (let i = 0; i < joined.length; i++) joined[i].settlement.root.hold(delta);
  }

  /** A live output of a pending root is gone: the root's tree holds one message less of the window. */
  private leafDone(): void {
    const root = this.root;
    if (root.state !== PENDING) return; // the root's settlement gave its leaves back already
    root.leaves--;
    if (root.owner !== undefined) root.owner.leafSettled();
  }

  /** @internal this settlement now has `count` children (a split): they are the leaves, not it. */
  branched(count: number): void {
    const root = this.root;
    const delta = this.isLeaf ? count - 1 : count;
    this.isLeaf = false;
    if (delta === 0 || root.state !== PENDING || this.state !== PENDING) return;
    root.leaves += delta;
    if (root.owner !== undefined) root.owner.leavesAdded(delta);
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
  /**
   * @internal For a message without `id`: the number (nextMessageNumber()) its id is made from when it is first read,
   * so that a message whose id nobody reads never gets one, and a queue holding it keeps a number, not a string.
   */
  idNumber?: number;
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
const EMPTY_BODY = Buffer.alloc(0);
/**
 * The init of a message being derived, filled in and read by the constructor at once: with() runs for every message of
 * a map, and an init object of its own would be one more allocation each time.
 */
const derivedInit: {
  id: string | undefined;
  idNumber: number | undefined;
  body: Buffer | Uint8Array | string;
  metadata: Readonly<Record<string, string>>;
  key: string | undefined;
} = {
  id: undefined,
  idNumber: undefined,
  body: EMPTY_BODY,
  metadata: EMPTY_METADATA,
  key: undefined,
};
let generatedIds = 0;
const idPrefix = `${process.pid.toString(36)}-${Date.now().toString(36)}-`;

/**
 * The number of the next process-unique message id (messageIdFor makes the id): a message without an id holds the
 * number until its id is read, and a queue holds the number too. A number is no object, and a topic may hold a
 * million messages.
 */
export function nextMessageNumber(): number {
  return ++generatedIds;
}

/** What a message made from `init` holds as its id: the given id, else the given number, else a new number. */
export function idOrNumberOf(init: MessageInit): string | number {
  return init.id ?? init.idNumber ?? nextMessageNumber();
}

/** The id of `number` (from nextMessageNumber()): the prefix of this process, then the number in base 36. */
export function messageIdFor(number: number): string {
  return idPrefix + number.toString(36);
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
  /**
   * @internal the id, or until it is first read, the number it is made from (messageIdFor): most relays never read
   * the id of a message that came without one, and making it was a string or two for every message.
   */
  idOrNumber: string | number;
  readonly body: Buffer;
  readonly metadata: Readonly<Record<string, string>>;
  readonly key?: string;
  /** @internal shared with derived messages; use ack()/nack() */
  readonly settlement: Settlement;

  constructor(init: MessageInit, settlement: Settlement = new Settlement(undefined)) {
    this.idOrNumber = idOrNumberOf(init);
    this.body = toBuffer(init.body);
    this.metadata = init.metadata ?? EMPTY_METADATA;
    this.key = init.key; // always assigned, so that every Message has one shape
    this.settlement = settlement;
  }

  /** The message's id: the source's, or one unique in this process (the same string every time it is read). */
  get id(): string {
    const id = this.idOrNumber;
    if (typeof id === 'string') return id;
    const made = messageIdFor(id);
    this.idOrNumber = made;
    return made;
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

  /**
   * Whether there is nothing left to do for this message: ack() or nack() was called on it (or on one sharing its
   * settlement), or the source message it derives from was settled already (a sibling output failed, it timed out, or a
   * shutdown nacked it), so that writing it now would only make a duplicate.
   */
  get settled(): boolean {
    const settlement = this.settlement;
    return settlement.state !== PENDING || settlement.root.state !== PENDING;
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
    const init = derivedInit;
    const id = this.idOrNumber;
    init.id = changes.id ?? (typeof id === 'string' ? id : undefined);
    init.idNumber = typeof id === 'number' ? id : undefined;
    init.body = changes.body ?? this.body;
    init.metadata = changes.metadata ?? this.metadata;
    init.key = changes.key === null ? undefined : (changes.key ?? this.key);
    const derived = new Message(init, this.settlement);
    init.body = EMPTY_BODY; // keeps no body alive
    return derived;
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
    this.settlement.branched(count);
    const children = new Array<Message>(count);
    for (let i = 0; i < count; i++) {
      const changes = outputs[i];
      children[i] = new Message(
        {
          id: changes.id ?? `${this.id}:${i}`,
          body: changes.body ?? this.body,
          metadata: changes.metadata ?? this.metadata,
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
  // every operator frame marks what it emits: when a pipeline is traced, that is where an operator's span comes from
  if (tracingState.active !== 0) traceStage(message, stage);
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
  // the proxy stands in for the parent: it is the leaf now, the parent settles through it
  settlement.isLeaf = parent.isLeaf;
  parent.isLeaf = false;
  return new Message({ id: message.id, body: message.body, metadata: message.metadata, key: message.key }, settlement);
}

/**
 * One message made of several (a batch): acking it acks every part, nacking it nacks every part. The parts stay live
 * (they hold their sources' windows) until the batch is settled, and a sink holding the batch holds them too.
 */
export function joinMessages(parts: readonly Message[], init: MessageInit): Message {
  const settlement = new Settlement({
    settled: (_settlement, error) => {
      for (let i = 0; i < parts.length; i++) {
        if (error === undefined) parts[i].ack();
        else parts[i].nack(error);
      }
    },
  });
  settlement.joined = parts;
  return new Message(init, settlement);
}

/** The parts a batch message was joined from, when it was joined in this process (joinMessages). */
export function joinedParts(message: Message): readonly Message[] | undefined {
  return message.settlement.root === message.settlement ? message.settlement.joined : undefined;
}

/**
 * A 1 -> 1 stand-in for `message` whose ack acks it, and whose nack calls `onFailure` instead of nacking it (the
 * next sink of a fallback gets its turn). The stand-in is the live leaf while it exists.
 */
export function attempt(message: Message, onFailure: (error: Error) => void): Message {
  const parent = message.settlement;
  const settlement = new Settlement(
    {
      settled: (_settlement, error) => {
        if (error === undefined) parent.ack();
        else onFailure(error);
      },
    },
    undefined,
    parent.root,
  );
  // the stand-in replaces the parent as a live leaf; a later stand-in (the next sink's turn) adds one again
  if (parent.isLeaf) parent.isLeaf = false;
  else parent.branched(1);
  return new Message({ id: message.id, body: message.body, metadata: message.metadata, key: message.key }, settlement);
}
