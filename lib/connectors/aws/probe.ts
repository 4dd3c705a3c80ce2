// `wasm-pipes check` for awssqs:// and awssns://: one read-only call with the configured region, endpoint and
// credentials: GetQueueAttributes on the queue (its URL asked with GetQueueUrl from an endpoint override, as the
// connector does), GetTopicAttributes on the topic. A missing queue or topic, refused credentials and an endpoint out of
// reach are problems. Nothing is received, deleted or published.
import { SQSClient, GetQueueUrlCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { EndpointUri } from '../../registry';
import { clientConfig, clientSettings, connectorError, describeHost } from './common';
import { parseQueueUri, sqsSettings } from './sqs';

const TIMEOUT_MS = 10_000;

/** The SDK's error as a problem line, without the connector's "scheme (host):" prefix the check line repeats. */
function problem(error: unknown, scheme: string, host: string, operation: string, service: string): Error {
  const failure = connectorError(error, scheme, host, operation, service);
  return new Error(failure.message.replace(`${scheme} (${host}): `, `${host}: `));
}

async function probeQueue(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const address = parseQueueUri(uri);
  const settings = sqsSettings(uri, env, address);
  const host = describeHost(settings, address.host);
  const client = new SQSClient(clientConfig(settings, TIMEOUT_MS));
  try {
    let queueUrl = address.queueUrl;
    if (settings.endpoint !== undefined) {
      try {
        const found = await client.send(
          new GetQueueUrlCommand({
            QueueName: address.name,
            ...(/^\d{12}$/.test(address.account) ? { QueueOwnerAWSAccountId: address.account } : {}),
          }),
        );
        queueUrl = found.QueueUrl ?? queueUrl;
      } catch (error) {
        throw problem(error, 'awssqs', host, `GetQueueUrl of '${address.name}'`, 'SQS');
      }
    }
    try {
      const output = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      const attributes = output.Attributes ?? {};
      return `SQS ${host}: queue '${address.name}' (about ${attributes.ApproximateNumberOfMessages ?? '?'} messages waiting, ${attributes.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight)`;
    } catch (error) {
      throw problem(error, 'awssqs', host, `GetQueueAttributes of '${address.name}'`, 'SQS');
    }
  } finally {
    client.destroy();
  }
}

export function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  return probeQueue(uri, env);
}

export async function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  if (uri.scheme === 'awssqs') return probeQueue(uri, env);
  // loaded only for awssns://, like the connector

  const { SNSClient, GetTopicAttributesCommand } = require('@aws-sdk/client-sns') as typeof import('@aws-sdk/client-sns');
  const arn = decodeURIComponent(uri.url.pathname.replace(/^\/+/, ''));
  const settings = clientSettings(uri, env, 'SNS', arn.split(':')[3]);
  const host = describeHost(settings, `sns.${settings.region ?? arn.split(':')[3]}.amazonaws.com`);
  const client = new SNSClient(clientConfig(settings, TIMEOUT_MS));
  try {
    const output = await client.send(new GetTopicAttributesCommand({ TopicArn: arn }));
    return `SNS ${host}: topic '${arn.split(':').pop()}' (${output.Attributes?.SubscriptionsConfirmed ?? '?'} confirmed subscriptions)`;
  } catch (error) {
    throw problem(error, 'awssns', host, `GetTopicAttributes of '${arn}'`, 'SNS');
  } finally {
    client.destroy();
  }
}
