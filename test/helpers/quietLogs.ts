// Run before each test file (jest's setupFilesAfterEach): the root logger of in-process pipelines writes pino JSON
// lines into the environment's buffer (test/helpers/quietLogsEnvironment.js) instead of fd 2, so that they are shown
// only with a failing test. LOG_LEVEL still chooses the level (default info).
import { createLogger, parseLogSettings, setRootLogger } from '../../lib/logging/logger';
import { testLogs } from './testLogs';

const buffer = testLogs();
if (buffer !== undefined) {
  let level: ReturnType<typeof parseLogSettings>['level'] = 'info';
  try {
    level = parseLogSettings(process.env).level;
  } catch {
    // a bad LOG_LEVEL in the developer's shell: keep info
  }
  setRootLogger(createLogger({ level, format: 'json', destination: buffer as unknown as NodeJS.WritableStream }));
}
