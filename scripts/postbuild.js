// Makes the compiled bin executable, so `dist/bin/wasm-pipes.js` runs directly as well as through npx.
const fs = require('node:fs');
const path = require('node:path');
const bin = path.join(__dirname, '..', 'dist', 'bin', 'wasm-pipes.js');
if (fs.existsSync(bin)) fs.chmodSync(bin, 0o755);
