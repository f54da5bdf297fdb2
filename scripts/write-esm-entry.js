// Writes dist/index.mjs: an ES module entry re-exporting the CommonJS build,
// so `import { SharedMemory } from 'shmkit'` and `require('shmkit')` share one
// instance of the addon. Export names are read from tsc's output, without
// loading it (the addon may not be built yet). Beside it, dist/index.d.mts:
// its types, as an ES module (package.json "exports" > "import" > "types"),
// so TypeScript under `moduleResolution: node16/nodenext/bundler` sees an ES
// module where it imports one (@arethetypeswrong/cli, test/package.test.ts).
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const source = fs.readFileSync(path.join(dist, 'index.js'), 'utf8');
const names = new Set();
for (const match of source.matchAll(/exports\.(\w+)\s*=|defineProperty\(exports, "(\w+)"/g)) {
  names.add(match[1] ?? match[2]);
}
names.delete('__esModule');
const lines = [
  "import cjs from './index.js';",
  ...[...names].sort().map((name) => `export const ${name} = cjs.${name};`),
  'export default cjs;',
  '',
];
fs.writeFileSync(path.join(dist, 'index.mjs'), lines.join('\n'));

const types = ["import * as shmkit from './index.js';", "export * from './index.js';", 'export default shmkit;', ''];
fs.writeFileSync(path.join(dist, 'index.d.mts'), types.join('\n'));
