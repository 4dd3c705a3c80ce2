// A connector's URI parameters are one described table in code (its registerScheme): each has a description, and its
// docs page names each in a parameter table with the same default. Shared by the connectors whose pages keep the
// source and the sink parameters in tables that follow a heading.
import fs from 'node:fs';
import path from 'node:path';
import { lookupScheme, type ParamSpec } from '../../lib/registry';

/** The text of docs/connectors/`name`.md. */
export function connectorPage(name: string): string {
  return fs.readFileSync(path.join(__dirname, `../../docs/connectors/${name}.md`), 'utf8');
}

/** The rows of the table that follows `heading` on `page`: parameter name -> default cell. */
export function tableAfter(page: string, heading: string): Map<string, string> {
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

/** Every parameter in `params` is described in code and documented with the same default, and nothing else is. */
export function expectParamsDocumented(params: readonly (ParamSpec | string)[] | undefined, documented: Map<string, string>): void {
  expect(params?.length).toBeGreaterThan(0);
  for (const param of params ?? []) {
    expect(typeof param).toBe('object');
    const spec = param as ParamSpec;
    expect(spec.description.length).toBeGreaterThan(20);
    expect([spec.name, documented.has(spec.name)]).toEqual([spec.name, true]);
    // a default in code is the one on the page (durations and numbers as written there)
    if (spec.default !== undefined)
      expect([spec.name, documented.get(spec.name)]).toEqual([spec.name, expect.stringContaining(spec.default)]);
  }
  expect([...documented.keys()].sort()).toEqual((params as ParamSpec[]).map((spec) => spec.name).sort());
}

/**
 * Each of `params` is declared in full (a name, a description of a few words, a default; not a bare name), and `page`
 * names each in a row of a parameter table.
 */
export function expectDeclaredAndNamed(params: readonly (ParamSpec | string)[], page: string): void {
  for (const param of params) {
    expect(param).toEqual({
      name: expect.any(String),
      description: expect.stringMatching(/\w{3}/),
      default: expect.stringMatching(/\S/),
    });
    if (typeof param !== 'string') expect(page).toContain(`| \`${param.name}\` |`);
  }
}

/**
 * The two tests of a connector whose page has a "Source parameters" and a "Sink parameters:" table: every source and
 * every sink parameter of `scheme` is described in code and named on docs/connectors/`scheme`.md.
 */
export function testParamsDocumented(scheme: string): void {
  const page = connectorPage(scheme);

  test(`every source parameter of ${scheme}:// is described in code and named on its docs page`, () => {
    expectParamsDocumented(lookupScheme(scheme, 'SOURCE_URI').sourceParams, tableAfter(page, 'Source parameters'));
  });

  test(`every sink parameter of ${scheme}:// is described in code and named on its docs page`, () => {
    expectParamsDocumented(lookupScheme(scheme, 'SINK_URI').sinkParams, tableAfter(page, 'Sink parameters:'));
  });
}
