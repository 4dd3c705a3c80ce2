// The conformance suite for awssqs:// (sink and source on one queue) and awssns:// (the sink publishes to a topic,
// read back through an SQS subscription without raw delivery, so the SNS envelope is unwrapped on the way), on the
// fauxqs emulator.
import { conformanceSuite, type ConformanceEndpoints } from './suite';
import { sleep, uniqueName } from '../helpers/wait';
import { AWS_TEST_ENV, ACCOUNT, Fauxqs } from '../aws/fauxqs';

let fauxqs: Fauxqs;

/** SQS queues and SNS topics that do not exist have this name. */
const MISSING = 'conformance-no-such-queue';

/**
 * A queue, and (for SNS) a topic feeding it. `params` go on the source URI: the crash test wants a short visibility
 * timeout, so that what the killed process held comes back within seconds.
 */
async function endpoints(sns: boolean, params: Record<string, string> = {}): Promise<ConformanceEndpoints> {
  const name = uniqueName('conformance');
  const queue = await fauxqs.createQueue(name);
  const topicArn = sns ? await fauxqs.createTopic(name) : undefined;
  if (topicArn !== undefined) await fauxqs.subscribe(topicArn, queue, false);
  return {
    sourceUri: fauxqs.sqsUri(queue.name, params),
    sinkUri: topicArn === undefined ? fauxqs.sqsUri(queue.name) : fauxqs.snsUri(topicArn),
    cleanup: async () => {
      await sleep(100); // the suite stops the source without waiting for its last deletes: let them go first
      if (topicArn !== undefined) await fauxqs.deleteTopic(topicArn);
      await fauxqs.deleteQueue(queue);
    },
  };
}

/** What both targets share: the emulator (one per target, stopped after its tests) and what SQS can do. */
const common = {
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  env: AWS_TEST_ENV,
  // a standard queue does not promise order (FIFO queues do)
  ordered: false,
  // larger than SQS's 256 KiB
  refused: { body: Buffer.alloc(300 * 1024, 'x') },
  async beforeAll() {
    fauxqs = await Fauxqs.start();
  },
  async afterAll() {
    await fauxqs.stop();
  },
};

conformanceSuite({
  name: 'awssqs:// (SQS sink -> SQS source)',
  ...common,
  missing: { name: MISSING, sourceUri: () => fauxqs.sqsUri(MISSING), sinkUri: () => fauxqs.sqsUri(MISSING) },
  endpoints: () => endpoints(false),
  crash: { endpoints: () => endpoints(false, { visibility: '2s' }) },
});

conformanceSuite({
  name: 'awssns:// (SNS sink -> SQS subscription -> SQS source)',
  ...common,
  missing: { name: MISSING, sinkUri: () => fauxqs.snsUri(`arn:aws:sns:us-east-1:${ACCOUNT}:${MISSING}`) },
  endpoints: () => endpoints(true),
  crash: { endpoints: () => endpoints(true, { visibility: '2s' }) },
});
