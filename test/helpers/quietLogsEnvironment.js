// The jest environment of the suite: Node's, plus a log buffer per test file. The pipelines a test runs in-process log
// into it (test/helpers/quietLogs.ts makes the root logger write there), and so do the bins it spawns (their stderr,
// through test/helpers/bin.ts). A test that passes discards what it logged; one that fails prints it after its name,
// so that `npm test` shows logs only where they explain a failure.
const { TestEnvironment } = require('jest-environment-node');

const LIMIT = 4 * 1024 * 1024; // keep the newest 4 MiB of a test's logs: a runaway test must not exhaust memory

class QuietLogsEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.logs = { chunks: [], bytes: 0, dropped: 0 };
    const logs = this.logs;
    this.global.__wasmPipesTestLogs = {
      write(chunk) {
        const text = String(chunk);
        logs.chunks.push(text);
        logs.bytes += text.length;
        while (logs.bytes > LIMIT && logs.chunks.length > 1) {
          logs.bytes -= logs.chunks.shift().length;
          logs.dropped++;
        }
      },
    };
  }

  flush(title) {
    const { chunks, dropped } = this.logs;
    if (chunks.length > 0) {
      const header = `\n---- logs of ${title}${dropped > 0 ? ` (the first ${dropped} chunks dropped)` : ''} ----\n`;
      process.stderr.write(header + chunks.join('') + (chunks[chunks.length - 1].endsWith('\n') ? '' : '\n') + '---- end of logs ----\n');
    }
    this.discard();
  }

  discard() {
    this.logs.chunks = [];
    this.logs.bytes = 0;
    this.logs.dropped = 0;
  }

  async handleTestEvent(event) {
    // what beforeAll hooks log stays in the buffer and is shown with the first test, if that one fails
    if (event.name === 'test_done') {
      if (event.test.errors.length > 0) this.flush(fullName(event.test));
      else this.discard();
    } else if (event.name === 'hook_failure') {
      this.flush(`the ${event.hook.type} hook${event.test ? ` of ${fullName(event.test)}` : ''}`);
    }
  }
}

function fullName(test) {
  const names = [];
  for (let block = test; block && block.name !== 'ROOT_DESCRIBE_BLOCK'; block = block.parent) names.unshift(block.name);
  return names.join(' › ');
}

module.exports = QuietLogsEnvironment;
