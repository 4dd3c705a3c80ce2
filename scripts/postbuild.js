// After tsc (scripts/build.js, which passes the folder it built into; dist/ by default): makes the compiled bin executable (so `dist/bin/wasm-pipes.js` runs directly as well as through npx),
// and copies each TypeScript source into its source map (`sourcesContent`, as tsc's inlineSources would), so that the
// maps shipped in the package are whole without the .ts files, which are not shipped.
const fs = require('node:fs');
const path = require('node:path');
const dist = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist'));
const bin = path.join(dist, 'bin', 'wasm-pipes.js');
if (fs.existsSync(bin)) fs.chmodSync(bin, 0o755);

function* maps(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* maps(full);
    else if (entry.name.endsWith('.js.map')) yield full;
  }
}

for (const file of maps(dist)) {
  const map = JSON.parse(fs.readFileSync(file, 'utf8'));
  const root = path.resolve(path.dirname(file), map.sourceRoot || '');
  map.sourcesContent = map.sources.map((source) => {
    const full = path.resolve(root, source);
    return fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : null;
  });
  fs.writeFileSync(file, JSON.stringify(map));
}
