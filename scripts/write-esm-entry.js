// Writes dist/index.mjs: an ES module entry re-exporting the CommonJS build,
// so `import { SharedMemory } from 'shmkit'` and `require('shmkit')` share one
// instance of the addon. Export names are read from tsc's output, without
// loading it (the addon may not be built yet). Beside it, dist/index.d.mts:
// its types, as an ES module (package.json "exports" > "import" > "types"),
// so TypeScript under `moduleResolution: node16/nodenext/bundler` sees an ES
// module where it imports one (@arethetypeswrong/cli, test/package.test.ts).
// The same for every subpath export: dist/nats/index.{mjs,d.mts} (shmkit/nats).
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');

/** Writes `<entry>.mjs` and `<entry>.d.mts` beside tsc's `<entry>.js` (entry relative to dist, without extension). */
function writeEntry(entry) {
  const base = path.basename(entry);
  const source = fs.readFileSync(path.join(dist, `${entry}.js`), 'utf8');
  const names = new Set();
  for (const match of source.matchAll(/exports\.(\w+)\s*=|defineProperty\(exports, "(\w+)"/g)) {
    names.add(match[1] ?? match[2]);
  }
  names.delete('__esModule');
  const lines = [
    `import cjs from './${base}.js';`,
    ...[...names].sort().map((name) => `export const ${name} = cjs.${name};`),
    'export default cjs;',
    '',
  ];
  fs.writeFileSync(path.join(dist, `${entry}.mjs`), lines.join('\n'));

  const types = [`import * as mod from './${base}.js';`, `export * from './${base}.js';`, 'export default mod;', ''];
  fs.writeFileSync(path.join(dist, `${entry}.d.mts`), types.join('\n'));
}

writeEntry('index');
writeEntry('nats/index');
