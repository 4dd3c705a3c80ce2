// Helpers of the wasm tests: build modules from source (cached by scripts/wasm-build.js), push messages through an
// operator and record how each input was settled and what came out.
import path from 'node:path';
import { from, type OperatorFunction } from 'rxjs';
import { Message, type MessageInit } from '../../lib/message';
import type { Cache, SyncCacheOperations } from '../../lib/cache/types';

const builder = require('../../scripts/wasm-build.js') as {
  build(spec: { lang: 'as' | 'wat' | 'c' | 'rust'; source: string; flags?: string[]; exports?: string[] }): Promise<string>;
  buildExamples(): Promise<string[]>;
  ROOT: string;
};

export const ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(__dirname, 'fixtures');

export function buildAs(source: string, flags?: string[]): Promise<string> {
  return builder.build({ lang: 'as', source: path.resolve(FIXTURES, source), flags });
}

export function buildWat(source: string): Promise<string> {
  return builder.build({ lang: 'wat', source: path.resolve(FIXTURES, source) });
}

export function buildExample(name: string, lang: 'as' | 'wat' | 'c' | 'rust', file: string, exported?: string[]): Promise<string> {
  return builder.build({ lang, source: path.join(ROOT, 'examples', name, file), exports: exported });
}

/** WAT text to bytes, for modules written inline in a test. */
export async function wat(text: string): Promise<Uint8Array> {
  const wabt = await (
    require('wabt') as () => Promise<{
      parseWat(name: string, text: string, features?: object): { toBinary(o: object): { buffer: Uint8Array }; destroy(): void };
    }>
  )();
  const parsed = wabt.parseWat('inline.wat', text, { mutable_globals: true });
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

export type Outcome = 'ack' | Error;

export interface Through {
  outputs: Message[];
  outcomes: Outcome[];
}

/**
 * Sends `inputs` through `operator`, acks every output (like a sink that confirmed it) and resolves once every input
 * is settled. With `ackOutputs` false, resolves when the operator completes, leaving outputs to the test.
 */
export async function through(
  operator: OperatorFunction<Message, Message>,
  inputs: (MessageInit | string)[],
  ackOutputs = true,
): Promise<Through> {
  const outcomes: Outcome[] = new Array(inputs.length);
  const outputs: Message[] = [];
  let remaining = inputs.length;
  let done!: () => void;
  const allSettled = new Promise<void>((resolve) => {
    done = resolve;
  });
  const messages = inputs.map((input, index) =>
    Message.create(typeof input === 'string' ? { body: input } : input, (error) => {
      outcomes[index] = error ?? 'ack';
      if (--remaining === 0) done();
    }),
  );
  if (inputs.length === 0) done();
  let failure: Error | undefined;
  from(messages)
    .pipe(operator)
    .subscribe({
      next: (message) => {
        outputs.push(message);
        if (ackOutputs) message.ack();
      },
      error: (error) => {
        failure = error as Error;
        done();
      },
      complete: () => {
        if (!ackOutputs) done();
      },
    });
  await allSettled;
  if (failure !== undefined) throw failure;
  return { outputs, outcomes };
}

/** A real asynchronous backend for the mechanism: a Map whose answers come later (setImmediate or a timer). */
export class LaterCache implements Cache {
  readonly name = 'later://';
  readonly sync?: SyncCacheOperations = undefined;
  readonly values = new Map<string, Buffer>();
  gets = 0;
  concurrent = 0;
  maxConcurrent = 0;
  constructor(private readonly delayMs = 0) {}

  private later<T>(answer: () => T): Promise<T> {
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    return new Promise((resolve) => {
      const finish = (): void => {
        this.concurrent--;
        resolve(answer());
      };
      if (this.delayMs > 0) setTimeout(finish, this.delayMs);
      else setImmediate(finish);
    });
  }

  get(key: string): Promise<Buffer | undefined> {
    this.gets++;
    return this.later(() => this.values.get(key));
  }
  set(key: string, value: Buffer): Promise<void> {
    return this.later(() => {
      this.values.set(key, value);
    });
  }
  add(key: string, value: Buffer): Promise<boolean> {
    return this.later(() => {
      if (this.values.has(key)) return false;
      this.values.set(key, value);
      return true;
    });
  }
  delete(key: string): Promise<void> {
    return this.later(() => {
      this.values.delete(key);
    });
  }
  async close(): Promise<void> {}
}
