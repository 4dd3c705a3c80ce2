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
});
