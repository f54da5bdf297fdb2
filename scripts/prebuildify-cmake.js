#!/usr/bin/env node
// Stands in for node-gyp when prebuildify calls it (`--node-gyp`): builds the
// Node-API addon with cmake-js, offline (prebuildify has no cmake-js backend,
// and its node-gyp call would download headers). node-gyp's --target/--devdir
// mean something else to cmake-js, so only --debug/--release are passed on.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const debug = process.argv.includes('--debug');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
execFileSync(process.execPath, [cmakeJs, 'rebuild', '--prefer-make', ...(debug ? ['--debug'] : [])], {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
});
