// BatchedReads: how the cache reads of waiting module instances go to the backend. A backend of our own Cache
// interface whose answers the test releases by hand shows what is asked, when, and who gets which answer.
import { BatchedReads, type BatchedReadsOptions, type Reader } from '../../lib/wasm/reads';
import type { Cache } from '../../lib/cache/types';
import { sleep } from '../helpers/wait';

interface Request {
  keys: readonly string[];
  answer(values: (Buffer | undefined)[]): void;
  fail(error: Error): void;
}

/** A cache whose getMany (or get, without `batched`) waits until the test answers each request. */
class HeldCache implements Cache {
  readonly name = 'held://';
  readonly requests: Request[] = [];
  readonly getMany?: (keys: readonly string[]) => Promise<(Buffer | undefined)[]>;

  constructor(batched: boolean) {
    if (batched) {
      this.getMany = (keys) => new Promise((resolve, reject) => this.requests.push({ keys, answer: resolve, fail: reject }));
    }
  }

  get(key: string): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => this.requests.push({ keys: [key], answer: (values) => resolve(values[0]), fail: reject }));
  }
  set = async (): Promise<void> => undefined;
  add = async (): Promise<boolean> => true;
  delete = async (): Promise<void> => undefined;
  close = async (): Promise<void> => undefined;

  /** The keys of every request so far, in order. */
  asked(): (readonly string[])[] {
    return this.requests.map((request) => request.keys);
  }
}

class Answers implements Reader {
  readonly got: { key: string; value?: string; error?: string }[] = [];
  onRead(key: string, value: Buffer | undefined, error: Error | undefined): void {
    this.got.push(error === undefined ? { key, value: value?.toString() } : { key, error: error.message });
  }
}

/** A batcher over a HeldCache (with getMany when `batched`), and one reader to answer. */
function heldReads(batched: boolean, options?: BatchedReadsOptions): { cache: HeldCache; reads: BatchedReads; answers: Answers } {
  const cache = new HeldCache(batched);
  return { cache, reads: new BatchedReads(cache, options), answers: new Answers() };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** `answers` reads a and b in one tick, then c in the next, while what asks for a and b is still held. */
async function readTwoThenOne(reads: BatchedReads, answers: Answers): Promise<void> {
  reads.read('a', answers);
  reads.read('b', answers);
  await tick();
  reads.read('c', answers);
}

test('reads asked in the same tick go as one request; a key asked twice is asked once, both readers answered', async () => {
  const cache = new HeldCache(true);
  const reads = new BatchedReads(cache);
  const first = new Answers();
  const second = new Answers();
  reads.read('a', first);
  reads.read('b', first);
  reads.read('a', second);
  expect(cache.requests).toHaveLength(0); // sent at the end of the tick, not at once
  await tick();
  expect(cache.asked()).toEqual([['a', 'b']]);
  cache.requests[0].answer([Buffer.from('A'), undefined]);
  await tick();
  expect(first.got).toEqual([
    { key: 'a', value: 'A' },
    { key: 'b', value: undefined },
  ]);
  expect(second.got).toEqual([{ key: 'a', value: 'A' }]);
});

test('while a request is out, new reads wait, then go together when it returns', async () => {
  const { cache, reads, answers } = heldReads(true);
  reads.read('a', answers);
  await tick();
  reads.read('b', answers);
  await tick();
  reads.read('c', answers);
  await tick();
  expect(cache.asked()).toEqual([['a']]);
  cache.requests[0].answer([Buffer.from('A')]);
  await tick();
  expect(cache.asked()).toEqual([['a'], ['b', 'c']]);
  cache.requests[1].answer([Buffer.from('B'), Buffer.from('C')]);
  await tick();
  expect(answers.got.map((answer) => answer.value)).toEqual(['A', 'B', 'C']);
  expect([reads.requests, reads.keys]).toEqual([2, 3]);
});

test('a request that does not come back holds the next reads for maxWaitMs at most', async () => {
  const { cache, reads, answers } = heldReads(true, { maxWaitMs: 30 });
  reads.read('stuck', answers);
  await tick();
  reads.read('next', answers);
  await tick();
  expect(cache.requests).toHaveLength(1);
  await sleep(60);
  expect(cache.asked()).toEqual([['stuck'], ['next']]);
  cache.requests[1].answer([Buffer.from('N')]);
  await tick();
  expect(answers.got).toEqual([{ key: 'next', value: 'N' }]);
});

test('a failed request fails every read in it, with its error; the next request goes on', async () => {
  const { cache, reads, answers } = heldReads(true);
  await readTwoThenOne(reads, answers);
  cache.requests[0].fail(new Error('connection reset'));
  await tick();
  expect(answers.got).toEqual([
    { key: 'a', error: 'connection reset' },
    { key: 'b', error: 'connection reset' },
  ]);
  expect(cache.asked()).toEqual([['a', 'b'], ['c']]);
});

test('without getMany, one get per key, each failing alone; the batch counts as back when all are', async () => {
  const { cache, reads, answers } = heldReads(false);
  await readTwoThenOne(reads, answers);
  expect(cache.asked()).toEqual([['a'], ['b']]);
  cache.requests[1].fail(new Error('b is unreadable'));
  await tick();
  expect(cache.requests).toHaveLength(2); // 'c' waits for 'a' too
  cache.requests[0].answer([Buffer.from('A')]);
  await tick();
  expect(cache.asked()).toEqual([['a'], ['b'], ['c']]);
  expect(answers.got).toEqual([
    { key: 'b', error: 'b is unreadable' },
    { key: 'a', value: 'A' },
  ]);
});
