// The check at the end of a per-key order test (issue 12, item 6) through a service that stores what it was sent.

/**
 * Expects each of the keys k0 .. k`keys - 1` to hold 0, 1, .. `perKey - 1` in order. `stored` is what the service
 * holds, in its order, as each message's key and position in its key. At least once: a send whose answer was lost may
 * be stored again (a replay of what came before), but no message may be stored before the one ahead of it in its key.
 */
export function expectEveryKeyInOrder(stored: readonly { key: string; position: number }[], keys: number, perKey: number): void {
  for (let k = 0; k < keys; k++) {
    const sequence = stored.filter((message) => message.key === `k${k}`).map((message) => message.position);
    let next = 0;
    for (const n of sequence) {
      if (n === next) next++;
      else expect({ key: `k${k}`, stored: n, before: next, replay: n < next }).toMatchObject({ replay: true });
    }
    expect(next).toBe(perKey);
  }
}
