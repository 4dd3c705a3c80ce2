import { Fifo } from '../../lib/fifo';

describe('Fifo', () => {
  test('keeps the order of a plain array through growth, wrap-around, unshift and shrinking', () => {
    const fifo = new Fifo<number>();
    const model: number[] = [];
    // a deterministic walk: bursts that grow the ring past 1 024, drains that shrink it, unshifts at every size
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    let next = 0;
    for (let step = 0; step < 60_000; step++) {
      const phase = Math.floor(step / 10_000) % 2; // grow, then shrink
      const roll = random();
      if (roll < (phase === 0 ? 0.6 : 0.3)) {
        fifo.push(next);
        model.push(next++);
      } else if (roll < 0.7) {
        expect(fifo.shift()).toBe(model.shift());
      } else if (roll < 0.8) {
        fifo.unshift(next);
        model.unshift(next++);
      } else {
        expect(fifo.peek()).toBe(model[0]);
      }
      expect(fifo.length).toBe(model.length);
    }
    expect(fifo.drain()).toEqual(model);
    expect(fifo.length).toBe(0);
    expect(fifo.shift()).toBeUndefined();
    expect(fifo.peek()).toBeUndefined();
  });

  test('keeps its order through queues that fill and empty again, across many blocks and the block it reuses', () => {
    const fifo = new Fifo<number>();
    let next = 0;
    // each cycle fills to a size (a block of 16, exactly a full block, several blocks of 1 024 and one past them),
    // reads part, puts one back in front, fills more, and reads it all: an emptied queue starts over in the block it
    // has, a read block of 1 024 is reused for the next one, and none of that may reorder or lose an item
    for (const size of [1, 15, 16, 17, 1024, 1025, 3071, 3072, 5000, 2, 16, 1023]) {
      const model: number[] = [];
      for (let i = 0; i < size; i++) {
        fifo.push(next);
        model.push(next++);
      }
      for (let i = 0; i < Math.floor(size / 2); i++) expect(fifo.shift()).toBe(model.shift());
      fifo.unshift(next);
      model.unshift(next++);
      for (let i = 0; i < size; i++) {
        fifo.push(next);
        model.push(next++);
      }
      expect(fifo.length).toBe(model.length);
      expect(fifo.peek()).toBe(model[0]);
      while (model.length > 0) expect(fifo.shift()).toBe(model.shift());
      expect(fifo.length).toBe(0);
      expect(fifo.shift()).toBeUndefined();
    }
    // unshift into an empty queue, and drain what is left
    fifo.unshift(-1);
    fifo.push(-2);
    fifo.unshift(-3);
    expect(fifo.drain()).toEqual([-3, -1, -2]);
    expect(fifo.length).toBe(0);
  });
});
