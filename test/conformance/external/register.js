// dirq://, a connector written as one outside this repository would be: plain JavaScript against the package's entry
// for connector authors (wasm-pipes/driver), registered with registerScheme(). A queue is a directory of message
// files; a reader leases a file by renaming it (the lease's end and the delivery count are in its name), so that a
// reader killed with SIGKILL loses nothing: its leases run out and another reader takes the files. The package test
// proves it with the conformance suite, crash test included (the bin loads this file with node --require).
const fs = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { registerScheme, ConnectorError, PermanentError } = require('wasm-pipes/driver');

const MAX_BODY = 1024 * 1024;
let written = 0;

function rootOf(env) {
  return (env ?? process.env).DIRQ_ROOT ?? path.join(os.tmpdir(), 'dirq');
}

function queueOf(uri) {
  return uri.url.host;
}

async function checkQueue(root, queue) {
  const exists = await fs.stat(path.join(root, queue)).then(
    (stat) => stat.isDirectory(),
    () => false,
  );
  if (!exists)
    throw new ConnectorError(`queue '${queue}' does not exist; create the directory ${path.join(root, queue)}`, {
      scheme: 'dirq',
      host: root,
      retryable: false,
    });
}

/** `<order>.<deliveries>.ready`, or `<order>.<deliveries>.lease.<until>` while a reader holds it. */
function parse(name) {
  const match = /^(\d+-\d+-\d+)\.(\d+)\.(ready|lease\.(\d+))$/.exec(name);
  return match === null
    ? undefined
    : { order: match[1], deliveries: Number(match[2]), until: match[4] === undefined ? 0 : Number(match[4]) };
}

class DirqSink {
  constructor(root, queue) {
    this.scheme = 'dirq';
    this.root = root;
    this.queue = queue;
  }

  start() {
    return checkQueue(this.root, this.queue);
  }

  async write(batch) {
    await checkQueue(this.root, this.queue);
    const results = [];
    for (const message of batch) {
      if (message.body.length > MAX_BODY) {
        results.push(new PermanentError(`dirq: message ${message.id} is ${message.body.length} bytes, more than ${MAX_BODY}`));
        continue;
      }
      const order = `${String(Date.now()).padStart(15, '0')}-${String(process.pid).padStart(8, '0')}-${String(written++).padStart(10, '0')}`;
      const content = JSON.stringify({
        id: message.id,
        body: message.body.toString('base64'),
        metadata: message.metadata,
        key: message.key,
      });
      const temporary = path.join(this.root, this.queue, `.${order}.tmp`);
      await fs.writeFile(temporary, content);
      await fs.rename(temporary, path.join(this.root, this.queue, `${order}.0.ready`));
      results.push(undefined);
    }
    return results;
  }

  async close() {}
}

class DirqSource {
  constructor(root, queue, leaseMs) {
    this.scheme = 'dirq';
    this.root = root;
    this.queue = queue;
    this.leaseMs = leaseMs;
  }

  start() {
    return checkQueue(this.root, this.queue);
  }

  /** Leases up to `max` files, oldest first, waiting a little for the first. */
  async receiveBatch(max, signal) {
    const giveUpAt = Date.now() + 200;
    for (;;) {
      const taken = await this.lease(max);
      if (taken.length > 0 || signal.aborted || Date.now() > giveUpAt) return taken;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async lease(max) {
    const directory = path.join(this.root, this.queue);
    const now = Date.now();
    const available = (await fs.readdir(directory))
      .map((name) => ({ name, parsed: parse(name) }))
      .filter(({ parsed }) => parsed !== undefined && parsed.until <= now)
      .sort((a, b) => (a.parsed.order < b.parsed.order ? -1 : 1));
    const taken = [];
    for (const { name, parsed } of available) {
      if (taken.length >= max) break;
      const deliveries = parsed.deliveries + 1;
      const leased = `${parsed.order}.${deliveries}.lease.${now + this.leaseMs}`;
      // the rename is the claim: of two readers, one wins
      const claimed = await fs.rename(path.join(directory, name), path.join(directory, leased)).then(
        () => true,
        () => false,
      );
      if (!claimed) continue;
      const stored = JSON.parse(await fs.readFile(path.join(directory, leased), 'utf8'));
      const message = {
        id: stored.id,
        body: Buffer.from(stored.body, 'base64'),
        metadata: stored.metadata,
        key: stored.key,
        deliveryCount: deliveries,
      };
      taken.push({ message, token: { leased, order: parsed.order, deliveries } });
    }
    return taken;
  }

  ack(token) {
    void fs.unlink(path.join(this.root, this.queue, token.leased)).catch(() => undefined);
  }

  nack(token) {
    const directory = path.join(this.root, this.queue);
    void fs
      .rename(path.join(directory, token.leased), path.join(directory, `${token.order}.${token.deliveries}.ready`))
      .catch(() => undefined);
  }

  async close() {}
}

registerScheme({
  schemes: ['dirq'],
  description: 'a directory as a queue (an example of a connector outside wasm-pipes)',
  sourceParams: [{ name: 'lease', description: 'how long a reader holds a message before another may take it, in ms', default: '30000' }],
  openSource: (uri, options) => new DirqSource(rootOf(options.env), queueOf(uri), Number(uri.params.get('lease') ?? 30_000)),
  openSink: (uri, options) => new DirqSink(rootOf(options.env), queueOf(uri)),
});
