// The docs hold together: every public name has an entry in docs/api.md, every relative link and repository path in
// README.md, docs/ and sdk/ exists (with its #anchor), and every connector parameter is documented.
import fs from 'node:fs';
import path from 'node:path';
import { allSchemeDefinitions, paramNames } from '../../lib/registry';

const root = path.resolve(__dirname, '../..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

/** The names an entry file exports, values and types. */
function exportedNames(file: string): string[] {
  const names: string[] = [];
  for (const match of read(file).matchAll(/^export (?:type )?\{([^}]*)\}/gm)) {
    for (const item of match[1].split(',')) {
      const name = item
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop();
      if (name) names.push(name);
    }
  }
  return names;
}

function markdownFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'target' ? [] : markdownFiles(relative);
    return entry.name.endsWith('.md') ? [relative] : [];
  });
}

/** GitHub's anchor for a heading. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  let fence = false;
  for (const line of read(file).split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    if (!fence && /^#{1,6} /.test(line)) anchors.add(anchor(line.replace(/^#+ /, '')));
  }
  return anchors;
}

const pages = ['README.md', 'ARCHITECTURE.md', ...markdownFiles('docs'), ...markdownFiles('sdk')];

describe('the public faces', () => {
  const api = read('docs/api.md');
  test.each(['lib/index.ts', 'operators/index.ts', 'lib/driver.ts', 'lib/conformance/index.ts'])(
    'every name %s exports has an entry in docs/api.md',
    (file) => {
      const missing = exportedNames(file).filter((name) => !api.includes(`\`${name}\``) && !api.includes(`\`${name}(`));
      expect(missing).toEqual([]);
    },
  );

  test('wasm-pipes stays small: about twenty values for pipeline authors', () => {
    const values = Object.keys(require(path.join(root, 'dist/lib/index.js')) as object);
    expect(values.length).toBeLessThanOrEqual(26);
  });
});

describe('links and paths', () => {
  test.each(pages)('%s: every relative link leads to a file (and heading) that exists', (page) => {
    const broken: string[] = [];
    const text = read(page).replace(/```[\s\S]*?```/g, '');
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1];
      if (/^[a-z]+:/i.test(target)) continue; // http(s), mailto
      const [file, hash] = target.split('#');
      const resolved = file === '' ? page : path.normalize(path.join(path.dirname(page), file));
      if (!fs.existsSync(path.join(root, resolved))) {
        broken.push(target);
        continue;
      }
      if (hash !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(hash)) broken.push(target);
    }
    expect(broken).toEqual([]);
  });

  // files that builds and runs make (bench/results.json, test/fixtures/build/) need not exist in a clone
  const generated = read('.gitignore')
    .split('\n')
    .map((line) => line.trim().replace(/^\//, ''))
    .filter((line) => line.length > 0 && !line.includes('*'));
  test.each(pages)('%s: every repository path it names exists', (page) => {
    const missing: string[] = [];
    for (const match of read(page).matchAll(/`((?:lib|bin|operators|test|docs|examples|sdk|scripts|bench)\/[\w./-]+)`/g)) {
      const named = match[1].replace(/[.,:;]$/, '');
      if (
        generated.some(
          (ignored) => named === ignored.replace(/\/$/, '') || named.startsWith(ignored.endsWith('/') ? ignored : `${ignored}/`),
        )
      )
        continue;
      if (!fs.existsSync(path.join(root, named))) missing.push(named);
    }
    expect(missing).toEqual([]);
  });
});

describe('connector parameters', () => {
  const connectorDocs = markdownFiles('docs/connectors').map(read).join('\n');
  test('every URI parameter of every connector is named in docs/connectors', () => {
    const missing: string[] = [];
    for (const definition of allSchemeDefinitions()) {
      for (const name of [...(paramNames(definition.sourceParams) ?? []), ...(paramNames(definition.sinkParams) ?? [])]) {
        if (!connectorDocs.includes(name)) missing.push(`${definition.schemes[0]}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
