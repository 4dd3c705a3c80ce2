// The JSON helpers of the C header (freestanding, no libc) and of the AssemblyScript SDK: read a field (unescaped),
// read a number, escape text as a JSON string, and add or replace a field.
import { testModule } from '../../lib';
import { buildFixture } from './helpers';

test('C: wp_json_string, wp_json_number, wp_json_escape and wp_json_set_field, built freestanding', async () => {
  const module = await buildFixture('c', 'json.c');
  const report = await testModule(module, [
    {
      name: 'adds fields, unescapes \\u and quotes',
      input: '{"name":"Bo\\u00e9 \\"B\\" \\ud83d\\ude00", "amount": 21 }',
      expect: [{ json: { name: 'Boé "B" 😀', amount: 21, label: 'for Boé "B" 😀', double: 42 } }],
    },
    { name: 'replaces a field in place, reads exponents', input: '{"label":1,"name":"x","amount":-2.5e1}', expect: ['{"label":"for x","name":"x","amount":-2.5e1,"double":-50}'] },
    { name: 'control characters are escaped', input: '{"name":"a\\n\\t\\u0001","amount":0}', expect: [{ json: { name: 'a\n\t\u0001', amount: 0, label: 'for a\n\t\u0001', double: 0 } }] },
    { name: 'an empty object has no name', input: '{ }', expect: { fails: 'no string field "name"' } },
    { name: 'a string that is not a field value', input: '{"note":"\\"name\\": 1","amount":1}', expect: { fails: 'no string field "name"' } },
    { name: 'not a number', input: '{"name":"x","amount":"1"}', expect: { fails: 'no number field "amount"' } },
    { name: 'not an object', input: '["name"]', expect: { fails: 'no string field "name"' } },
  ]);
  expect(report.results.filter((result) => !result.passed).map((result) => `${result.name}: ${result.problems.join(' ')}`)).toEqual([]);
}, 120_000); // a compile on a loaded machine

test('AssemblyScript: jsonString, addField and addStringField', async () => {
  const module = await buildFixture('as', 'json.ts');
  const report = await testModule(module, [
    {
      name: 'adds an escaped string and a raw number',
      input: '{"name":"Ann"}',
      expect: [{ json: { name: 'Ann', greeting: 'hello, Ann\n\t"quoted" \\ \u0001', length: 14 } }, '"a\\"b"'],
    },
    { name: 'replaces an existing field', input: '{"greeting":null,"name":"B"}', expect: [{ json: { greeting: 'hello, B\n\t"quoted" \\ \u0001', name: 'B', length: 28 } }, '"a\\"b"'] },
    { name: 'no name', input: '{}', expect: { fails: 'no string field "name"' } },
  ]);
  expect(report.results.filter((result) => !result.passed).map((result) => `${result.name}: ${result.problems.join(' ')}`)).toEqual([]);
}, 120_000); // a compile on a loaded machine
