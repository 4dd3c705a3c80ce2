// The http family: http:// and https://, the webhook source (node:http, source.ts) and the HTTP sink (undici, sink.ts).
import { registerScheme } from '../../registry';
import type { SinkOptions } from '../../sink';
import { ConfigError } from '../../errors';
import { parseDuration } from '../../config';
import { listenerConfig } from './config';
import { HttpSource } from './source';
import { HttpSink } from './sink';

function sinkConcurrency(options: SinkOptions): number {
  return Math.max(1, options.concurrency ?? 32);
}

registerScheme({
  schemes: ['http', 'https'],
  description:
    'HTTP: as a source, a webhook endpoint (POST/PUT relay the body, GET relays the query as JSON; answered after settlement); as a sink, POST to the URL',
  sourceExample: 'http://:9000/events',
  sinkExample: 'http://example.com:9000/webhook',
  sourceParams: [],
  openSource: (uri, options) => new HttpSource(listenerConfig(uri, options.env ?? process.env), uri.scheme),
  openSink: (uri, options) => {
    if (uri.anyHost) {
      throw new ConfigError(`an HTTP sink needs a host to send to, for example http://localhost:9000/events`, {
        variable: uri.variable,
      });
    }
    const env = options.env ?? process.env;
    const method = (env.HTTP_SINK_METHOD ?? 'POST').toUpperCase();
    if (method !== 'POST' && method !== 'PUT') {
      throw new ConfigError(`'${method}' is not a method the sink can use; use POST or PUT`, { variable: 'HTTP_SINK_METHOD' });
    }
    const timeout = parseDuration(env.HTTP_SINK_TIMEOUT ?? '30s', 'HTTP_SINK_TIMEOUT');
    return new HttpSink(uri.url, sinkConcurrency(options), method, timeout);
  },
  sinkDefaults: { concurrency: 32 },
});

export { HttpSource, httpSource } from './source';
export type { HttpSourceOptions, HttpSourceObservable, HttpRequestHandler } from './source';
export { HttpSink } from './sink';
