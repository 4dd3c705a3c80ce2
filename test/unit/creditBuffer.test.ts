// CreditBuffer: what push-based sources (NATS, AMQP, Pub/Sub) receive while the credit window is full waits, in
// order, within its limit, and goes on as credit comes back; once closed it hands nothing more over.
import { CreditBuffer } from '../../lib/creditBuffer';

/** A stand-in for the runtime's side: a credit count and the onCredit listeners. */
function window(credit: number): { credit: number; onCredit(listener: () => void): void; free(slots: number): void } {
  const listeners: (() => void)[] = [];
  return {
    credit,
    onCredit: (listener) => void listeners.push(listener),
    free(slots) {
      this.credit += slots;
      for (const listener of listeners) listener();
    },
  };
}

test('hands items over at once while there is credit, keeps the rest in order, and delivers them as credit returns', () => {
  const context = window(2);
  const delivered: number[] = [];
  const buffer = new CreditBuffer<number>((item) => {
    delivered.push(item);
    context.credit--;
  });
  buffer.attach(context);
  for (let i = 1; i <= 5; i++) expect(buffer.offer(i)).toBe(true);
  expect(delivered).toEqual([1, 2]);
  expect(buffer.length).toBe(3);
  context.free(1);
  expect(delivered).toEqual([1, 2, 3]);
  context.free(5);
  expect(delivered).toEqual([1, 2, 3, 4, 5]);
  expect(buffer.length).toBe(0);
});

test('an item never overtakes one that waits, even when credit is free when it arrives', () => {
  const context = window(0);
  const delivered: string[] = [];
  const buffer = new CreditBuffer<string>((item) => delivered.push(item));
  buffer.attach(context);
  buffer.offer('first');
  context.credit = 10; // credit came back, but no onCredit yet
  buffer.offer('second');
  expect(delivered).toEqual([]);
  context.free(0);
  expect(delivered).toEqual(['first', 'second']);
});

test('with a limit, an item beyond it is refused (false) and not kept', () => {
  const context = window(0);
  const buffer = new CreditBuffer<number>(() => undefined);
  buffer.attach(context);
  expect(buffer.offer(1, 2)).toBe(true);
  expect(buffer.offer(2, 2)).toBe(true);
  expect(buffer.offer(3, 2)).toBe(false);
  expect(buffer.length).toBe(2);
});

test('close() returns what waited, oldest first, and nothing is handed over afterwards', () => {
  const context = window(0);
  const delivered: number[] = [];
  const buffer = new CreditBuffer<number>((item) => delivered.push(item));
  buffer.attach(context);
  buffer.offer(1);
  buffer.offer(2);
  expect(buffer.close()).toEqual([1, 2]);
  buffer.offer(3); // a late arrival the driver failed to refuse
  context.free(10);
  expect(delivered).toEqual([]);
});
