// The conformance suite for awssqs:// (sink and source on one queue) and awssns:// (the sink publishes to a topic,
// read back through an SQS subscription without raw delivery, so the SNS envelope is unwrapped on the way), on the
// fauxqs emulator.
import { conformanceSuite } from './suite';
import { sleep, uniqueName } from '../helpers/wait';
import { Fauxqs } from '../aws/fauxqs';

let fauxqs: Fauxqs;
/** Each suite starts its own emulator and stops it after its tests. */
const withFauxqs = {
  async beforeAll() {
    fauxqs = await Fauxqs.start();
  },
  async afterAll() {
    await fauxqs.stop();
  },
};

conformanceSuite({
  name: 'awssqs:// (SQS sink -> SQS source)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  ...withFauxqs,
  async endpoints() {
    const queue = await fauxqs.createQueue(uniqueName('conformance'));
    const uri = fauxqs.sqsUri(queue.name);
    return {
      sourceUri: uri,
      sinkUri: uri,
      cleanup: async () => {
        await sleep(100); // the suite unsubscribes without waiting: let the source send its last deletes first
        await fauxqs.deleteQueue(queue);
      },
    };
  },
});

conformanceSuite({
  name: 'awssns:// (SNS sink -> SQS subscription -> SQS source)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  ...withFauxqs,
  async endpoints() {
    const name = uniqueName('conformance');
    const queue = await fauxqs.createQueue(name);
    const topicArn = await fauxqs.createTopic(name);
    await fauxqs.subscribe(topicArn, queue, false);
    return {
      sourceUri: fauxqs.sqsUri(queue.name),
      sinkUri: fauxqs.snsUri(topicArn),
      cleanup: async () => {
        await sleep(100);
        await fauxqs.deleteTopic(topicArn);
        await fauxqs.deleteQueue(queue);
      },
    };
  },
});
