import { closestScheme, parseEndpointUri, redactUri } from '../../lib/registry';
import { source, sink } from '../../lib/endpoints';
import { ConfigError } from '../../lib/errors';
import { capturingLogger } from '../helpers/wait';

describe('URIs and the scheme registry', () => {
  test('http://:9000/events means every interface; the path and port are kept', () => {
    const uri = parseEndpointUri('http://:9000/events', 'SOURCE_URI');
    expect(uri.anyHost).toBe(true);
    expect(uri.url.port).toBe('9000');
    expect(uri.url.pathname).toBe('/events');
    expect(parseEndpointUri('http://127.0.0.1:9000/events', 'SOURCE_URI').anyHost).toBe(false);
  });

  test('non-special schemes parse with their host, path and parameters', () => {
    const uri = parseEndpointUri('awssns:///arn:aws:sns:us-east-2:123456789012:mytopic?region=us-east-2', 'SINK_URI');
    expect(uri.scheme).toBe('awssns');
    expect(uri.url.pathname).toBe('/arn:aws:sns:us-east-2:123456789012:mytopic');
    expect(uri.params.get('region')).toBe('us-east-2');
    expect(parseEndpointUri('nats://sink?pipe=queue', 'SOURCE_URI').url.host).toBe('sink');
  });

  test('something that is not a URI is a ConfigError naming the variable and showing the form', () => {
    expect(() => parseEndpointUri('localhost:9000', 'SINK_URI')).toThrow(ConfigError);
    expect(() => parseEndpointUri('localhost:9000', 'SINK_URI')).toThrow(/SINK_URI: .*scheme:\/\//);
  });

  test('an unknown scheme lists the supported ones and suggests the closest', () => {
    expect(() => sink('stdoutt://')).toThrow(/Did you mean 'stdout:\/\/'\?/);
    expect(() => sink('bogus://x', { variable: 'SINK_URI' })).toThrow(
      /SINK_URI: unknown scheme 'bogus:\/\/'.*Supported schemes: .*mem:\/\//,
    );
    expect(closestScheme('myqueuefile', ['file', 'http'])).toBe('file');
    expect(closestScheme('zzzzzz', ['file', 'http'])).toBeUndefined();
  });

  test('a sink-only scheme used as a source says so', () => {
    expect(() => source('stdout://')).toThrow(/stdout:\/\/ can only be a sink/);
    expect(() => sink('stdin://')).toThrow(/stdin:\/\/ can only be a source/);
  });

  test('unknown query parameters give a warning that names them and the known ones, and are not fatal', () => {
    const { logger, lines } = capturingLogger('warn');
    sink('mem://topic-x?colour=blue', { logger, variable: 'SINK_URI' });
    const warning = lines()[0];
    expect(warning.msg).toContain('colour');
    expect(warning.msg).toContain('max_backlog');
  });

  test('redaction hides passwords and secret parameters, keeps the rest', () => {
    expect(redactUri('redis://user:hunter2@cache:6379/0')).toBe('redis://user:***@cache:6379/0');
    // a webhook's query goes to a third party, where any value may be the credential (issue 19 item 4)
    expect(redactUri('http://example.com/hook?token=abc&key_name=tenant')).toBe('http://example.com/hook?token=***&key_name=***');
    expect(redactUri('https://h/x?api_key=1&sig=2&access_key=3')).toBe('https://h/x?api_key=***&sig=***&access_key=***');
  });
});
