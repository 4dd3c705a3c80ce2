// awssqs:// (source and sink) and awssns:// (sink): registers the AWS schemes. The drivers live in awsSqs.ts and
// awsSns.ts, what they share in awsCommon.ts; the AWS SDK is loaded only when one of these schemes is used.
import { registerScheme } from '../../registry';
import { DEFAULT_MAX_IN_FLIGHT } from '../../source';
import { DEFAULT_MAX_MESSAGE_SIZE } from './common';
import { openSqsSink, openSqsSource } from './sqs';
import { openSnsSink } from './sns';

/** Batches of 10 (the API limit) up to 256 KiB, lingering a little: SQS and SNS bill per request. */
const sinkDefaults = { concurrency: 16, batch: { count: 10, bytes: DEFAULT_MAX_MESSAGE_SIZE, linger: 5 } };

registerScheme({
  schemes: ['awssqs'],
  description:
    'AWS SQS queue: long-polling source (ack = delete, nack = visibility backoff, slow messages extended, SNS envelopes unwrapped); batched sink (FIFO groups from the key)',
  sourceExample: 'awssqs://sqs.us-east-2.amazonaws.com/123456789012/myqueue?region=us-east-2',
  sinkExample: 'awssqs://sqs.us-east-2.amazonaws.com/123456789012/myqueue?region=us-east-2',
  sourceParams: ['region', 'endpoint', 'waittime', 'visibility', 'raw', 'pollers', 'nack_delay', 'nack_delay_max'],
  sinkParams: ['region', 'endpoint', 'max_message_size'],
  openSource: (uri, options) => openSqsSource(uri, options.env ?? process.env, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT),
  openSink: (uri, options) => openSqsSink(uri, options.env ?? process.env),
  sinkDefaults,
});

registerScheme({
  schemes: ['awssns'],
  description: 'AWS SNS topic: batched PublishBatch sink (FIFO topics get groups from the key); read it back through an SQS subscription',
  sinkExample: 'awssns:///arn:aws:sns:us-east-2:123456789012:mytopic?region=us-east-2',
  sinkParams: ['region', 'endpoint'],
  openSink: (uri, options) => openSnsSink(uri, options.env ?? process.env),
  sinkDefaults,
});
