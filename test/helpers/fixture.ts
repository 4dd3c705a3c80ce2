// One running test server or emulator shared by the tests of a file or of a describe() block: started before them,
// stopped after them.

/**
 * Starts `start()` before the tests of the enclosing block and stops it after them (by default with its own stop());
 * returns a getter for the tests. A start that failed fails the block with its own error: nothing is stopped then,
 * so no "cannot read properties of undefined" hides it, and the getter says the fixture did not start.
 */
export function startedForTests<Fixture extends { stop(): Promise<void> }>(start: () => Promise<Fixture>): () => Fixture;
export function startedForTests<Fixture>(start: () => Promise<Fixture>, stop: (fixture: Fixture) => Promise<void>): () => Fixture;
export function startedForTests<Fixture>(
  start: () => Promise<Fixture>,
  stop: (fixture: Fixture) => Promise<void> = (fixture) => (fixture as { stop(): Promise<void> }).stop(),
): () => Fixture {
  let fixture: { running: Fixture } | undefined;
  beforeAll(async () => {
    fixture = { running: await start() };
  });
  afterAll(async () => {
    if (fixture !== undefined) await stop(fixture.running);
    fixture = undefined;
  });
  return () => {
    if (fixture === undefined)
      throw new Error(
        'the test fixture is not running: its start failed (see the beforeAll error), or it is read outside the tests of its block',
      );
    return fixture.running;
  };
}
