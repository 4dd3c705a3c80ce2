// docs/connectors/postgres.md stays true: every URI parameter the connector declares is documented on the page, and
// the page's SQL is what the other tests of this folder create their tables from (test/postgres/helpers.ts).
import fs from 'node:fs';
import path from 'node:path';
import { lookupScheme, paramNames } from '../../lib/registry';
import { documentedInsert, documentedTable } from './helpers';

const page = fs.readFileSync(path.resolve(__dirname, '../../docs/connectors/postgres.md'), 'utf8');

test('every parameter of postgres:// is documented', () => {
  const definition = lookupScheme('postgres', 'SOURCE_URI');
  const names = new Set([...(paramNames(definition.sourceParams) ?? []), ...(paramNames(definition.sinkParams) ?? [])]);
  expect(names.size).toBeGreaterThan(5);
  for (const name of names) expect(page).toContain(`\`${name}\``);
  expect(lookupScheme('postgresql', 'SOURCE_URI')).toBe(definition);
});

test('the page has the SQL of both tables and of an application insert', () => {
  expect(documentedTable('outbox', 'x')).toContain('CREATE TRIGGER x_notify');
  expect(documentedTable('events', 'y')).toContain('CREATE TABLE y (');
  expect(documentedInsert('z')).toContain('INSERT INTO z (body, key, metadata)');
});
