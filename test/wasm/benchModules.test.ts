// The benchmark's modules must do what the examples they stand beside do: P1 reports the word-at-a-time uppercase
// beside examples/uppercase, and a faster module that uppercased differently would make the comparison a lie.
import path from 'node:path';
import { wasmTransform } from '../../operators';
import { buildExample, through, ROOT } from './helpers';

const builder = require(path.join(ROOT, 'scripts', 'wasm-build.js')) as {
  build(spec: { lang: 'as'; source: string }): Promise<string>;
};

test('bench/modules/uppercase-words.ts gives what examples/uppercase gives, for every byte at every position', async () => {
  const words = await builder.build({ lang: 'as', source: path.join(ROOT, 'bench', 'modules', 'uppercase-words.ts') });
  const bytes = await buildExample('uppercase', 'as', 'uppercase.ts');
  // every byte value, at every offset within an 8-byte word, and lengths that leave a tail of 0 to 7 bytes
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const inputs = [
    every,
    Buffer.concat([Buffer.from('abc'), every]),
    ...Array.from({ length: 9 }, (_, n) => every.subarray(96, 96 + n + 16)),
  ];
  const expected = (
    await through(
      wasmTransform(bytes),
      inputs.map((body) => ({ body })),
    )
  ).outputs.map((m) => m.body);
  const actual = (
    await through(
      wasmTransform(words),
      inputs.map((body) => ({ body })),
    )
  ).outputs.map((m) => m.body);
  expect(actual).toEqual(expected);
  // and the example does what it says: ASCII letters uppercased, nothing else touched
  const uppercased = Buffer.from(every.map((byte) => (byte >= 0x61 && byte <= 0x7a ? byte - 32 : byte)));
  expect(expected[0].equals(uppercased)).toBe(true);
});
