// `npm run build`: compiles into a fresh folder beside dist/ and swaps it in, so that dist/ is never missing or half
// written while something runs from it (a bin started from the clone, the test suite's spawned bins, a second build).
// Then postbuild.js finishes the new build in place.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
// one folder per build, so that two builds at once do not write into each other's
const next = path.join(root, `dist.next-${process.pid}`);
const old = path.join(root, `dist.old-${process.pid}`);

fs.rmSync(next, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', next], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [path.join(__dirname, 'postbuild.js'), next], { stdio: 'inherit' });
} catch (error) {
  fs.rmSync(next, { recursive: true, force: true });
  process.exitCode = typeof error.status === 'number' ? error.status : 1;
  return;
}
// two renames: dist/ is absent only between them, for microseconds, never while a file is half written
if (fs.existsSync(dist)) fs.renameSync(dist, old);
fs.renameSync(next, dist);
fs.rmSync(old, { recursive: true, force: true });
