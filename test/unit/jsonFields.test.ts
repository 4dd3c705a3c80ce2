// lib/jsonFields.ts: top-level fields of a JSON body, read without parsing the rest. Every case is checked against
// what JSON.parse makes of the same body, which is what the key templates used before.
import { JsonFieldReader, type JsonScalar } from '../../lib/jsonFields';

/** What the templates read from JSON.parse: scalars only, undefined for null, objects and arrays. */
function parsed(body: string, fields: string[]): (JsonScalar | undefined)[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return fields.map((field) => {
    const found = (value as Record<string, unknown>)[field];
    return typeof found === 'string' || typeof found === 'number' || typeof found === 'boolean' ? found : undefined;
  });
}

describe('JsonFieldReader', () => {
  const fields = ['user', 'n', 'ok', 'tenant'];
  const reader = new JsonFieldReader(fields);

  test.each([
    ['{"user":"u1","n":5,"ok":true,"tenant":"t"}'],
    ['  {\n "user" : "u1" ,\t"n": -1.5e3 }  '],
    ['{"before":{"user":"nested","list":[1,{"user":"deeper"}],"s":"}{\\"]["},"user":"top"}'],
    ['{"user":"first","user":"last"}'],
    ['{"user":"esc\\"aped \\\\ \\u00e9 \\n"}'],
    ['{"\\u0075ser":"escaped key","n":0}'],
    ['{"user":"ünïcödé 名前","ok":false}'],
    ['{"user":null,"n":[1,2],"ok":{"a":1},"tenant":""}'],
    ['{"user":12345678901234567890,"n":1.0,"tenant":"x\\\\"}'],
    ['{}'],
    ['{"u":"user","usr":"x","users":"y"}'],
  ])('reads what JSON.parse reads from %s', (body) => {
    expect(reader.read(Buffer.from(body))).toEqual(parsed(body, fields));
  });

  test.each([['not json'], ['[{"user":"u1"}]'], ['"user"'], ['{"user":"cut off'], ['{"user":"u1",'], ['{"user" "u1"}'], ['']])(
    'gives no fields for a body that is not a JSON object: %s',
    (body) => {
      expect(reader.read(Buffer.from(body))).toBeUndefined();
    },
  );

  test('a key with a bad escape is not a match, and nothing throws', () => {
    expect(reader.read(Buffer.from('{"\\x41":"bad escape","user":"u"}'))).toEqual(['u', undefined, undefined, undefined]);
  });

  test('values that are not JSON scalars are absent, not made up', () => {
    expect(reader.read(Buffer.from('{"n":0x10,"ok":tru,"user":"u"}'))).toEqual(['u', undefined, undefined, undefined]);
  });

  describe('made for a hint (firstFound)', () => {
    const hint = new JsonFieldReader(['user', 'tenant'], { firstFound: true });

    test('stops once it has every field: the first of a repeated key counts, and the rest of the body is not read', () => {
      expect(hint.read(Buffer.from('{"user":"first","tenant":"t","user":"last"}'))).toEqual(['first', 't']);
      // broken after the fields: a hint does not care, the full reader gives nothing
      expect(hint.read(Buffer.from('{"tenant":"t","user":"u1", cut off'))).toEqual(['u1', 't']);
      expect(new JsonFieldReader(['user', 'tenant']).read(Buffer.from('{"tenant":"t","user":"u1", cut off'))).toBeUndefined();
    });

    test('reads on while a field is missing, and reads what JSON.parse reads then', () => {
      const body = '{"user":"first","n":{"tenant":"nested"},"user":"last"}';
      expect(hint.read(Buffer.from(body))).toEqual(parsed(body, ['user', 'tenant']));
      expect(hint.read(Buffer.from('{"user":"u1",'))).toBeUndefined();
    });
  });
});
