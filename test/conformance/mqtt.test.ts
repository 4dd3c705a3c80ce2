// The conformance suite on the shared Mosquitto (127.0.0.1:1883): the sink publishes with QoS 1 to a topic that the
// source reads through a persistent session, created before the test (so that the source may subscribe after the
// sink wrote, as a restarted relay does); each test has its own topic and session, removed afterwards.
import { conformanceSuite } from './suite';
import { connectClient, env, removeSession, uniqueTopic } from '../mqtt/helpers';

conformanceSuite({
  name: 'mqtt:// (persistent QoS 1 session <- QoS 1 publishes)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  env,
  missing: { alwaysExists: 'an MQTT topic needs no declaration' },
  refused: { refusesNothing: "Mosquitto takes messages up to MQTT's 256 MB (its message_size_limit is off by default)" },
  // under the 1 000 messages Mosquitto queues for a session while its client is away
  crash: { messages: 800 },
  async endpoints() {
    const topic = uniqueTopic('conformance');
    const clientId = `wp-conf-${process.pid}-${Date.now().toString(36)}`;
    // the session and its subscription exist before anything is published: the broker queues for it
    const session = await connectClient(undefined, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    await session.subscribeAsync(topic, { qos: 1 });
    await session.endAsync();
    return {
      sourceUri: `mqtt://${topic}?client_id=${clientId}&nack_delay=100ms`,
      sinkUri: `mqtt://${topic}`,
      cleanup: () => removeSession(clientId),
    };
  },
});
