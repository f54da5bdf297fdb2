// Checks (or with --fix, rewrites) the formatting of native/ with the
// clang-format binary shipped by the clang-format npm package.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const binary = require.resolve('clang-format/index.js').replace(/index\.js$/, 'bin/linux_x64/clang-format');
const fix = process.argv.includes('--fix');
const files = [];
for (const dir of ['native/core', 'native/primitives', 'native/include/shmkit', 'native/tools']) {
  const full = path.join(root, dir);
  if (!fs.existsSync(full)) continue;
  for (const name of fs.readdirSync(full)) {
    if (/\.(cc|h|c)$/.test(name)) files.push(path.join(full, name));
  }
}
const args = fix ? ['-i', ...files] : ['--dry-run', '--Werror', ...files];
try {
  execFileSync(fs.existsSync(binary) ? binary : 'clang-format', ['--style=file', ...args], { stdio: 'inherit' });
} catch {
  console.error('native/ is not clang-formatted: run `npm run format`.');
  process.exit(1);
}
