// Asserting start-up failures: what a bad URI or variable throws must be a ConfigError, returned for the test to check
// that it names the variable and shows a valid value.
import { ConfigError } from '../../lib/errors';

/** Runs `run`, expects it to throw a ConfigError, and returns that error. */
export function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}
