// WASM_PREFETCH: the bin's key templates for the prefetch hint.
import { prefetchTemplate } from '../../bin/wasmEnv';
import { Message } from '../../lib/message';
import { ConfigError } from '../../lib/errors';
import { keyTemplate } from '../../lib/keyTemplate';

describe('WASM_PREFETCH templates', () => {
  test('fill {key}, {metadata.NAME} and {json.FIELD}, several keys comma-separated', () => {
    const hint = prefetchTemplate('profile:{json.user}, tenant:{metadata.tenant}, by-key:{key}');
    const message = Message.create({ body: '{"user":"u1","amount":5}', metadata: { tenant: 't9' }, key: 'k1' });
    expect(hint(message)).toStrictEqual(['profile:u1', 'tenant:t9', 'by-key:k1']);
  });

  test('a placeholder with no value leaves that key out instead of asking for a wrong one', () => {
    const hint = prefetchTemplate('profile:{json.user},by-key:{key}');
    expect(hint(Message.create({ body: '{"amount":5}' }))).toStrictEqual([]);
    expect(hint(Message.create({ body: '{"user":{"nested":true}}', key: 'k' }))).toStrictEqual(['by-key:k']);
  });

  test('a body that is not a JSON object leaves out the keys that need its fields, and keeps the others', () => {
    const hint = prefetchTemplate('p:{json.user},by-key:{key}');
    expect(hint(Message.create({ body: 'not json', key: 'k' }))).toStrictEqual(['by-key:k']);
    expect(hint(Message.create({ body: '["u1"]', key: 'k' }))).toStrictEqual(['by-key:k']);
  });

  test('numbers and booleans are written as JSON.parse reads them; a field named twice is read once', () => {
    const hint = prefetchTemplate('a:{json.n}:{json.ok}, b:{json.n}');
    expect(hint(Message.create({ body: '{"n":1.50,"ok":false}' }))).toStrictEqual(['a:1.5:false', 'b:1.5']);
  });

  test('a hint reads the body up to its last field only; a key that decides something (a rate limit key) reads it all', () => {
    const body = '{"user":"first","user":"last"}';
    expect(prefetchTemplate('profile:{json.user}')(Message.create({ body }))).toStrictEqual(['profile:first']);
    expect(keyTemplate('user:{json.user}', 'RATE_LIMIT_KEY')(Message.create({ body }))).toStrictEqual(['user:last']);
  });

  test('a template without a placeholder is a ConfigError naming WASM_PREFETCH and showing valid ones', () => {
    expect(() => prefetchTemplate('profile:user')).toThrow(ConfigError);
    expect(() => prefetchTemplate('profile:user')).toThrow(/WASM_PREFETCH: .*profile:\{json\.user\}/);
  });
});
