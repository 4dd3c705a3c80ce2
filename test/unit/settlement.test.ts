import { Message, type MessageChanges } from '../../lib/message';

/** A random tree of derived messages: each node is split into 0..3 children, or mapped 1 -> 1 with `with`. */
function settleRandomTree(root: Message, random: () => number, failures: { nacked: boolean }, depth = 0): void {
  const roll = depth > 6 ? 1 : random();
  if (roll < 0.2) {
    const mapped = root.with({ body: `${root.text()}!` });
    settleRandomTree(mapped, random, failures, depth + 1);
    return;
  }
  if (roll < 0.75) {
    const count = Math.floor(random() * 4);
    const children = root.split(Array.from({ length: count }, (): MessageChanges => ({})));
    // settle children in a random order, sometimes twice
    const order = children.map((child, index) => ({ child, index, sort: random() })).sort((a, b) => a.sort - b.sort);
    for (const { child } of order) settleRandomTree(child, random, failures, depth + 1);
    return;
  }
  if (random() < 0.1) {
    failures.nacked = true;
    root.nack(new Error('leaf failed'));
    if (random() < 0.5) root.ack(); // a late ack after a nack changes nothing
  } else {
    root.ack();
    if (random() < 0.3) root.ack(); // idempotent
  }
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

describe('settlement', () => {
  test('ack and nack are idempotent: the first call wins', () => {
    const outcomes: (Error | undefined)[] = [];
    const message = Message.create({ body: 'x' }, (error) => outcomes.push(error));
    message.ack();
    message.nack(new Error('late'));
    message.ack();
    expect(outcomes).toEqual([undefined]);
    expect(message.settled).toBe(true);
  });

  test('a 1 -> N split acks the parent only when every child is acked', () => {
    const outcomes: (Error | undefined)[] = [];
    const parent = Message.create({ id: 'p', body: 'x' }, (error) => outcomes.push(error));
    const children = parent.split([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    expect(children.map((child) => child.id)).toEqual(['p:0', 'p:1', 'p:2']);
    children[2].ack();
    children[0].ack();
    expect(outcomes).toEqual([]);
    children[1].ack();
    expect(outcomes).toEqual([undefined]);
  });

  test('the first child nack nacks the parent; later acks change nothing', () => {
    const outcomes: (Error | undefined)[] = [];
    const parent = Message.create({ body: 'x' }, (error) => outcomes.push(error));
    const [first, second] = parent.split([{}, {}]);
    second.nack(new Error('boom'));
    first.ack();
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]?.message).toBe('boom');
  });

  test('zero outputs ack the parent at once', () => {
    const outcomes: (Error | undefined)[] = [];
    const parent = Message.create({ body: 'x' }, (error) => outcomes.push(error));
    expect(parent.split([])).toEqual([]);
    expect(outcomes).toEqual([undefined]);
  });

  test('random trees of derived messages settle the root exactly once, with the right outcome', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const random = seeded(seed);
      const outcomes: (Error | undefined)[] = [];
      const root = Message.create({ body: 'root' }, (error) => outcomes.push(error));
      const failures = { nacked: false };
      settleRandomTree(root, random, failures);
      expect(outcomes).toHaveLength(1);
      expect(outcomes[0] === undefined).toBe(!failures.nacked);
    }
  });

  test('with() shares the settlement, keeps what it does not change, and can remove the key', () => {
    const outcomes: (Error | undefined)[] = [];
    const original = Message.create({ id: 'm', body: 'a', metadata: { x: '1' }, key: 'k' }, (error) => outcomes.push(error));
    const mapped = original.with({ body: 'b' });
    expect(mapped.id).toBe('m');
    expect(mapped.metadata).toEqual({ x: '1' });
    expect(mapped.key).toBe('k');
    expect(original.with({ key: null }).key).toBeUndefined();
    mapped.ack();
    expect(original.settled).toBe(true);
    expect(outcomes).toEqual([undefined]);
  });

  test('text() and json() read the body', () => {
    const message = Message.create({ body: '{"a":[1,2]}' });
    expect(message.text()).toBe('{"a":[1,2]}');
    expect(message.json()).toEqual({ a: [1, 2] });
    expect(() => Message.create({ body: 'not json' }).json()).toThrow(SyntaxError);
  });
});

describe('message ids', () => {
  test('a message without an id gets one of its own when it is read: the same string every time, shared by with()', () => {
    const first = new Message({ body: 'a' });
    const second = new Message({ body: 'b' });
    const mapped = first.with({ body: 'c' });
    // read the derived message's id first: the parent's, once made, must be the same
    const id = mapped.id;
    expect(id).toMatch(/^[0-9a-z]+-[0-9a-z]+-[0-9a-z]+$/);
    expect(first.id).toBe(id);
    expect(first.id).toBe(first.id);
    expect(second.id).not.toBe(id);
    expect(first.with({ id: 'given' }).id).toBe('given');
    expect(first.split([{}, {}]).map((child) => child.id)).toEqual([`${id}:0`, `${id}:1`]);
    // a given id is kept as given
    expect(new Message({ id: 'x', body: 'd' }).with({}).id).toBe('x');
  });
});
