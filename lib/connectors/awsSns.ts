// awssns:///arn:aws:sns:<region>:<account>:<topic>: the SNS sink, PublishBatch with per-entry results; FIFO topics
// get the key as MessageGroupId and the message id as MessageDeduplicationId, as SQS FIFO queues do.
import { SNSClient, PublishBatchCommand, type PublishBatchRequestEntry, type BatchResultErrorEntry } from '@aws-sdk/client-sns';
import type { EndpointUri } from '../registry';
import type { SinkDriver } from '../sink';
import type { Message } from '../message';
import { ConfigError, ConnectorError, PermanentError } from '../errors';
import {
  AwsClientSettings,
  DEFAULT_MAX_MESSAGE_SIZE,
  GroupSequencer,
  clientSettings,
  connectorError,
  describeHost,
  encodeMessage,
  fifoToken,
  splitRequests,
} from './awsCommon';
import { DEFAULT_GROUP } from './awsSqs';

const SCHEME = 'awssns';
const MAX_BATCH = 10;
const TOPIC_ARN = /^arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256}(?:\.fifo)?)$/;

export interface SnsSinkConfig {
  topicArn: string;
  settings: AwsClientSettings;
  region: string;
}

export class SnsSink implements SinkDriver {
  readonly scheme = SCHEME;
  private client: SNSClient | undefined;
  private healthy = true;
  private readonly host: string;
  private readonly fifo: boolean;
  private readonly sequencer = new GroupSequencer();

  constructor(private readonly config: SnsSinkConfig) {
    this.host = describeHost(config.settings, `sns.${config.region}.amazonaws.com`);
    this.fifo = config.topicArn.endsWith('.fifo');
  }

  get ready(): boolean {
    return this.healthy;
  }

  async write(batch: readonly Message[]): Promise<(Error | undefined)[]> {
    const { settings } = this.config;
    this.client ??= new SNSClient({
      ...(settings.region !== undefined ? { region: settings.region } : {}),
      ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
      ...(settings.credentials !== undefined ? { credentials: settings.credentials } : {}),
      requestHandler: { requestTimeout: 30_000, connectionTimeout: 5000 },
    });
    const client = this.client;
    const results = new Array<Error | undefined>(batch.length).fill(undefined);
    const entries: { index: number; size: number; entry: PublishBatchRequestEntry }[] = [];
    for (let index = 0; index < batch.length; index++) {
      const message = batch[index];
      const group = this.fifo ? fifoToken(message.key ?? DEFAULT_GROUP) : undefined;
      const encoded = encodeMessage(message, {
        scheme: SCHEME,
        host: this.host,
        maxSize: DEFAULT_MAX_MESSAGE_SIZE,
        service: 'SNS',
        keyAsAttribute: !this.fifo || (message.key !== undefined && group !== message.key),
        idAsAttribute: true,
      });
      if (encoded instanceof PermanentError) {
        results[index] = encoded;
        continue;
      }
      const entry: PublishBatchRequestEntry = { Id: `m${index}`, Message: encoded.body };
      if (Object.keys(encoded.attributes).length > 0) entry.MessageAttributes = encoded.attributes;
      if (group !== undefined) {
        entry.MessageGroupId = group;
        entry.MessageDeduplicationId = fifoToken(message.id);
      }
      entries.push({ index, size: encoded.size, entry });
    }
    if (entries.length === 0) return results;
    const requests = splitRequests(entries, MAX_BATCH, DEFAULT_MAX_MESSAGE_SIZE);
    const send = async (request: typeof entries): Promise<void> => {
      let output;
      try {
        output = await client.send(
          new PublishBatchCommand({ TopicArn: this.config.topicArn, PublishBatchRequestEntries: request.map((item) => item.entry) }),
        );
      } catch (error) {
        this.healthy = false;
        const failure = connectorError(error, SCHEME, this.host, 'PublishBatch', 'SNS', true);
        for (const item of request) results[item.index] = failure;
        return;
      }
      this.healthy = true;
      const failedById = new Map((output.Failed ?? []).map((failed) => [failed.Id, failed]));
      const succeeded = new Set((output.Successful ?? []).map((entry) => entry.Id));
      for (const item of request) {
        const failed = failedById.get(item.entry.Id);
        if (failed !== undefined) results[item.index] = entryError(failed, batch[item.index], this.host);
        else if (!succeeded.has(item.entry.Id)) {
          results[item.index] = new ConnectorError(`PublishBatch returned no result for message ${batch[item.index].id}`, {
            scheme: SCHEME,
            host: this.host,
          });
        }
      }
    };
    if (!this.fifo) {
      await Promise.all(requests.map(send));
      return results;
    }
    const groups = new Set(entries.map((item) => item.entry.MessageGroupId as string));
    await this.sequencer.run(groups, async () => {
      for (const request of requests) await send(request);
    });
    return results;
  }

  async close(): Promise<void> {
    this.client?.destroy();
    this.client = undefined;
  }
}

function entryError(failed: BatchResultErrorEntry, message: Message, host: string): Error {
  const text = `SNS refused message ${message.id}: ${failed.Code ?? 'error'}: ${failed.Message ?? ''}`;
  if (failed.SenderFault) return new PermanentError(`${SCHEME} (${host}): ${text}`);
  return new ConnectorError(text, { scheme: SCHEME, host });
}

/** Builds the SNS sink for `uri` (awssns:///<topic ARN>), validating it (no connection yet). */
export function openSnsSink(uri: EndpointUri, env: NodeJS.ProcessEnv): SnsSink {
  const arn = decodeURIComponent(uri.url.pathname.replace(/^\/+/, ''));
  const match = TOPIC_ARN.exec(arn);
  if (uri.url.host !== '' || match === null) {
    throw new ConfigError(
      `'${uri.raw}' does not name an SNS topic: write awssns:///<topic ARN> (three slashes), ` +
        'for example awssns:///arn:aws:sns:us-east-2:123456789012:mytopic?region=us-east-2',
      { variable: uri.variable },
    );
  }
  const settings = clientSettings(uri, env, 'SNS', match[2]);
  return new SnsSink({ topicArn: arn, settings, region: settings.region ?? match[2] });
}
