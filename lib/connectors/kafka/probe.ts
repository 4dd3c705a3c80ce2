// `wasm-pipes check` for kafka://: connects an admin client to KAFKA_BROKERS with the configured TLS and SASL, and
// reads the metadata of the topics the endpoint uses (their partitions): a topic the cluster does not know is a
// problem. For a source, the group's committed offsets are read too (nothing joins the group). No record is read or
// written.
import type { Admin } from 'kafkajs';
import type { EndpointUri } from '../../registry';
import { createKafka, clientConfig, brokersText, causeText, isAuthFailure } from './client';
import { rootLogger } from '../../logging/logger';

async function withAdmin<T>(env: NodeJS.ProcessEnv, use: (admin: Admin, brokers: string) => Promise<T>): Promise<T> {
  const config = clientConfig(env);
  const brokers = brokersText(config);
  const admin = createKafka(config, rootLogger().child({ check: 'kafka' })).admin({ retry: { retries: 1, initialRetryTime: 250 } });
  try {
    await admin.connect();
  } catch (error) {
    if (isAuthFailure(error))
      throw new Error(
        `the brokers ${brokers} refused the SASL credentials (${causeText(error)}); fix KAFKA_USERNAME/KAFKA_PASSWORD or KAFKA_SASL_MECHANISM`,
        { cause: error },
      );
    throw new Error(
      `cannot connect to Kafka at ${brokers} (${causeText(error)}); start the brokers, or fix KAFKA_BROKERS (and KAFKA_SSL)`,
      { cause: error },
    );
  }
  try {
    return await use(admin, brokers);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The partitions of each topic; a topic the cluster does not know is a problem. */
async function partitions(admin: Admin, topics: readonly string[]): Promise<string> {
  const known = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !known.has(topic));
  if (missing.length > 0) {
    throw new Error(
      `the cluster has no topic ${missing.map((topic) => `'${topic}'`).join(', ')}; create it first, for example: ` +
        `kafka-topics.sh --create --topic ${missing[0]} --partitions 3 --bootstrap-server HOST:9092`,
    );
  }
  const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
  return metadata.topics.map((topic) => `topic '${topic.name}' (${topic.partitions.length} partitions)`).join(', ');
}

export function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const group = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
  const topics = [
    ...new Set(
      uri.url.searchParams
        .getAll('topic')
        .flatMap((value) => value.split(','))
        .map((topic) => topic.trim())
        .filter((topic) => topic !== ''),
    ),
  ];
  return withAdmin(env, async (admin, brokers) => {
    const found = await partitions(admin, topics);
    const offsets = await admin.fetchOffsets({ groupId: group, topics });
    const committed = offsets.some((topic) => topic.partitions.some((partition) => Number(partition.offset) >= 0));
    return `Kafka ${brokers}: ${found}; group '${group}' ${committed ? 'has committed offsets' : 'has no committed offset yet (starts at ?offset=)'}`;
  });
}

export function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const topic = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
  return withAdmin(env, async (admin, brokers) => `Kafka ${brokers}: ${await partitions(admin, [topic])}`);
}
