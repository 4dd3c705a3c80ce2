// awssns:///arn:aws:sns:<region>:<account>:<topic>: the SNS sink, PublishBatch with per-entry results; FIFO topics
// get the key as MessageGroupId and the message id as MessageDeduplicationId, as SQS FIFO queues do.
import { SNSClient, PublishBatchCommand, GetTopicAttributesCommand, type PublishBatchRequestEntry } from '@aws-sdk/client-sns';
import type { EndpointUri } from '../../registry';
import type { SinkDriver } from '../../sink';
import type { Message } from '../../message';
import { ConfigError } from '../../errors';
import {
  type AwsClientSettings,
  type AwsResource,
  DEFAULT_MAX_MESSAGE_SIZE,
  GroupSequencer,
  checkRegion,
  clientConfig,
  clientSettings,
  describeHost,
  isMissing,
  missingResourceError,
  writeBatch,
} from './common';

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
  /** A FIFO topic keeps each group (the message key) in order: the runtime keeps it through retries too. */
  readonly ordered: boolean;
  /** The topic, for the error that says it does not exist. */
  private readonly resource: AwsResource;

  constructor(private readonly config: SnsSinkConfig) {
    this.host = describeHost(config.settings, `sns.${config.region}.amazonaws.com`);
    this.fifo = config.topicArn.endsWith('.fifo');
    this.ordered = this.fifo;
    this.resource = { kind: 'topic', name: config.topicArn };
  }

  get ready(): boolean {
    return this.healthy;
  }

  /**
   * run()'s start-up check: no region, or no such topic, is a configuration mistake. The topic is looked up with
   * GetTopicAttributes; any other failure of it (no permission for it, the endpoint down) proves nothing, and the
   * writes tell.
   */
  async start(): Promise<void> {
    this.client ??= new SNSClient(clientConfig(this.config.settings, 30_000));
    const client = this.client;
    await checkRegion(client, SCHEME, this.host, 'SNS');
    try {
      await client.send(new GetTopicAttributesCommand({ TopicArn: this.config.topicArn }));
    } catch (error) {
      if (isMissing(error, this.resource)) throw missingResourceError(error, this.resource, 'GetTopicAttributes', SCHEME, this.host);
    }
  }

  async write(batch: readonly Message[]): Promise<(Error | undefined)[]> {
    this.client ??= new SNSClient(clientConfig(this.config.settings, 30_000));
    const client = this.client;
    return writeBatch(batch, {
      scheme: SCHEME,
      host: this.host,
      service: 'SNS',
      operation: 'PublishBatch',
      fifo: this.fifo,
      maxSize: DEFAULT_MAX_MESSAGE_SIZE,
      maxEntries: MAX_BATCH,
      sequencer: this.sequencer,
      resource: this.resource,
      entry: (fields, body): PublishBatchRequestEntry => ({ ...fields, Message: body }),
      send: (entries) => client.send(new PublishBatchCommand({ TopicArn: this.config.topicArn, PublishBatchRequestEntries: entries })),
      answered: (healthy) => {
        this.healthy = healthy;
      },
    });
  }

  async close(): Promise<void> {
    this.client?.destroy();
    this.client = undefined;
  }
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
