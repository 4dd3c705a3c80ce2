// s3://bucket/prefix: a sink that writes messages as objects (JSON lines by default), on @aws-sdk/client-s3. The
// URI is read in config.ts, the driver is in sink.ts.
import { registerScheme, type ParamSpec } from '../../registry';
import { DEFAULT_TEMPLATE, s3SinkConfig } from './config';
import { S3Sink } from './sink';

const SINK_PARAMS: readonly ParamSpec[] = [
  { name: 'region', description: "the bucket's region, for example us-east-2", default: "AWS_REGION, else the SDK's profile" },
  {
    name: 'endpoint',
    description: 'another S3 endpoint (MinIO, an emulator), for example http://127.0.0.1:9000',
    default: 'AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS',
  },
  {
    name: 'path_style',
    description: 'true: bucket in the path (http://host/bucket/key) instead of the host name',
    default: 'true with an endpoint, else false',
  },
  {
    name: 'format',
    description:
      'envelope: one JSON line per message, {id, key, metadata, body} (body_base64 when not UTF-8), as stdout:// writes; lines: the bodies, one a line',
    default: 'envelope',
  },
  {
    name: 'name',
    description:
      'the object name after the prefix: {date} (2026-05-20), {time} (134501), {yyyy} {MM} {dd} {HH} {mm} {ss} (UTC, when its first message came), {unique} (required), {count}',
    default: DEFAULT_TEMPLATE,
  },
  { name: 'max_count', description: 'most messages in one object (an object also never holds more than MAX_IN_FLIGHT)', default: '10000' },
  { name: 'max_bytes', description: 'an object is written once it reaches this size, for example 16mb', default: '64mb' },
  {
    name: 'max_age',
    description:
      'an object is written at the latest this long after its first message came (a request source such as http:// waits that long for its answer at most; raise it for fewer, larger objects from a slow stream), for example 1m',
    default: '5s',
  },
  {
    name: 'part_size',
    description: 'objects larger than this go up as a multipart upload in parts of this size (5mb or more)',
    default: '8mb',
  },
  { name: 'uploads', description: 'objects (or parts of one) uploading at once', default: '4' },
];

/**
 * The runtime hands over what arrived in one turn (linger 0) and keeps up to 64 writes waiting for their objects; the
 * driver gathers them into objects.
 */
const SINK_CONCURRENCY = 64;

registerScheme({
  schemes: ['s3'],
  description:
    'Amazon S3 (or any S3 store): a sink writing objects of JSON lines under a prefix, by count, size or age (multipart for large objects); each message acked once its object is stored',
  sinkExample: 's3://archive/events/',
  sinkParams: SINK_PARAMS,
  openSink: (uri, options) => new S3Sink(s3SinkConfig(uri, options.env ?? process.env), options, options.concurrency ?? SINK_CONCURRENCY),
  sinkDefaults: { concurrency: SINK_CONCURRENCY, batch: { count: 1000, linger: 0 } },
});
