// awssqs:// (source and sink) and awssns:// (sink): registers the AWS schemes and their parameters. The drivers live
// in sqs.ts and sns.ts, what they share in common.ts; the AWS SDK is loaded only when one of these schemes is used.
import { registerScheme, type ParamSpec } from '../../registry';
import { DEFAULT_MAX_IN_FLIGHT } from '../../source';
import { DEFAULT_MAX_MESSAGE_SIZE } from './common';
import { openSqsSink, openSqsSource } from './sqs';
import { openSnsSink } from './sns';

/** Batches of 10 (the API limit) up to 256 KiB, lingering a little: SQS and SNS bill per request. */
const sinkDefaults = { concurrency: 16, batch: { count: 10, bytes: DEFAULT_MAX_MESSAGE_SIZE, linger: 5 } };

const REGION: ParamSpec = {
  name: 'region',
  description:
    'the AWS region, for example us-east-2; else the one in the SQS host or topic ARN, AWS_REGION, AWS_DEFAULT_REGION, then the profile',
  default: 'from the host or ARN',
};
const ENDPOINT: ParamSpec = {
  name: 'endpoint',
  description:
    'an endpoint override for emulators and VPC endpoints, an http:// or https:// URL such as http://127.0.0.1:4566 (the queue URL is then asked of it with GetQueueUrl)',
  default: 'AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL_SNS, then AWS_ENDPOINT_URL',
};

/** The parameters of an awssqs:// source, described for --help, the unknown-parameter warning and docs/connectors/aws.md. */
export const SQS_SOURCE_PARAMS: readonly ParamSpec[] = [
  REGION,
  ENDPOINT,
  {
    name: 'waittime',
    description: 'the long-poll wait of each receive, 0s to 20s; 0 short-polls, pausing 1 s when the queue is empty',
    default: '20s',
  },
  {
    name: 'visibility',
    description:
      'the visibility timeout asked for with each receive, 1s to 12h; a message still in flight when half of it is gone is extended by as much again',
    default: '30s',
  },
  { name: 'raw', description: 'true keeps SNS envelopes as they are instead of unwrapping them', default: 'false' },
  { name: 'pollers', description: 'receives in progress at once, 1 to 64', default: 'MAX_IN_FLIGHT / 10, 1 to 4' },
  {
    name: 'nack_delay',
    description: 'after a nack the message is visible again after this delay, doubled per delivery (ApproximateReceiveCount); 0 = at once',
    default: '1s',
  },
  { name: 'nack_delay_max', description: 'the cap of that backoff, up to 12h', default: '15m' },
];

export const SQS_SINK_PARAMS: readonly ParamSpec[] = [
  REGION,
  ENDPOINT,
  {
    name: 'max_message_size',
    description: 'the largest message (body plus attributes) and request, 1kb to 1mb (for queues whose MaximumMessageSize allows it)',
    default: '256kb',
  },
];

export const SNS_SINK_PARAMS: readonly ParamSpec[] = [REGION, ENDPOINT];

registerScheme({
  schemes: ['awssqs'],
  description:
    'AWS SQS queue: long-polling source (ack = delete, nack = visibility backoff, slow messages extended, SNS envelopes unwrapped); batched sink (FIFO groups from the key)',
  sourceExample: 'awssqs://sqs.us-east-2.amazonaws.com/123456789012/myqueue?region=us-east-2',
  sinkExample: 'awssqs://sqs.us-east-2.amazonaws.com/123456789012/myqueue?region=us-east-2',
  sourceParams: SQS_SOURCE_PARAMS,
  sinkParams: SQS_SINK_PARAMS,
  openSource: (uri, options) => openSqsSource(uri, options.env ?? process.env, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT),
  openSink: (uri, options) => openSqsSink(uri, options.env ?? process.env),
  sinkDefaults,
});

registerScheme({
  schemes: ['awssns'],
  description: 'AWS SNS topic: batched PublishBatch sink (FIFO topics get groups from the key); read it back through an SQS subscription',
  sinkExample: 'awssns:///arn:aws:sns:us-east-2:123456789012:mytopic?region=us-east-2',
  sinkParams: SNS_SINK_PARAMS,
  openSink: (uri, options) => openSnsSink(uri, options.env ?? process.env),
  sinkDefaults,
});
