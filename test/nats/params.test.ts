// The nats:// parameters are one described table in code (lib/connectors/nats/index.ts): each has a description, and
// docs/connectors/nats.md names each in its parameter tables with the same default.
import fs from 'node:fs';
import path from 'node:path';
import { lookupScheme, ParamSpec } from '../../lib/registry';

const page = fs.readFileSync(path.join(__dirname, '../../docs/connectors/nats.md'), 'utf8');

/** The rows of the table that follows `heading` on the page: parameter name -> default cell. */
function tableAfter(heading: string): Map<string, string> {
  const start = page.indexOf(heading);
  expect(start).toBeGreaterThanOrEqual(0);
  const rows = new Map<string, string>();
  const lines = page.slice(start).split('\n').slice(1);
  let inTable = false;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`([a-z_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (name !== undefined) rows.set(name, cells[2]);
  }
  return rows;
}

function check(params: readonly (ParamSpec | string)[] | undefined, documented: Map<string, string>): void {
  expect(params?.length).toBeGreaterThan(0);
  for (const param of params ?? []) {
    expect(typeof param).toBe('object');
    const spec = param as ParamSpec;
    expect(spec.description.length).toBeGreaterThan(20);
    expect([spec.name, documented.has(spec.name)]).toEqual([spec.name, true]);
    // a default in code is the one on the page (durations and numbers as written there)
    if (spec.default !== undefined) expect([spec.name, documented.get(spec.name)]).toEqual([spec.name, expect.stringContaining(spec.default)]);
  }
  expect([...documented.keys()].sort()).toEqual((params as ParamSpec[]).map((spec) => spec.name).sort());
}

test('every source parameter of nats:// is described in code and named on its docs page', () => {
  check(lookupScheme('nats', 'SOURCE_URI').sourceParams, tableAfter('Source parameters'));
});

test('every sink parameter of nats:// is described in code and named on its docs page', () => {
  check(lookupScheme('nats', 'SINK_URI').sinkParams, tableAfter('Sink parameters:'));
});
