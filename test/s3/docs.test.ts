// docs/connectors/s3.md stays true: every URI parameter the connector declares is documented on the page with its
// default, and the example object name is one the default-free template of the page produces.
import fs from 'node:fs';
import path from 'node:path';
import { lookupScheme, paramNames } from '../../lib/registry';
import { parseTemplate } from '../../lib/connectors/s3/config';

const page = fs.readFileSync(path.resolve(__dirname, '../../docs/connectors/s3.md'), 'utf8');

test('every parameter of s3:// is documented, and s3:// is a sink only', () => {
  const definition = lookupScheme('s3', 'SINK_URI');
  expect(definition.openSource).toBeUndefined();
  const names = paramNames(definition.sinkParams) ?? [];
  expect(names.length).toBeGreaterThan(5);
  for (const name of names) expect(page).toMatch(new RegExp(`\\| \`${name}\` \\|`));
});

test("the page's template example gives the name it shows", () => {
  const template = parseTemplate('{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{unique}.jsonl', 'SINK_URI');
  const name = template({ time: new Date(Date.UTC(2026, 4, 20, 13, 45, 1)), unique: 'mfy3k2a10001-9c1d7e2a', count: 3 });
  expect(page).toContain(`\`events/${name}\``);
});
