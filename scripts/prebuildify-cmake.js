#!/usr/bin/env node
// Stands in for node-gyp when prebuildify calls it (`--node-gyp`, see
// scripts/prebuilds.js): builds the Node-API addon with cmake-js, offline
// (prebuildify has no cmake-js backend, and its node-gyp call would download
// headers). node-gyp's --target/--devdir/--arch mean something else to
// cmake-js, so only --debug/--release are passed on.
//
// The project is the package root; the build goes to ./build of the directory
// prebuildify runs in (a staging directory), where prebuildify looks for the
// .node file and from where it moves it to prebuilds/. So packing never
// touches the contributor's build/. Only the addon target is built: the C
// tools of native/tools are not part of a prebuild. For arm64 on another
// host (PREBUILD_ARCH, set by prebuildify) it cross-compiles with Debian's
// g++-aarch64-linux-gnu.
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const debug = process.argv.includes('--debug');
const arch = process.env.PREBUILD_ARCH || os.arch();
/** cmake-js flags that cross-compile for an arch other than the host's. */
const CROSS = {
  arm64: [
    '--cc',
    'aarch64-linux-gnu-gcc',
    '--cxx',
    'aarch64-linux-gnu-g++',
    '--CDCMAKE_SYSTEM_NAME=Linux',
    '--CDCMAKE_SYSTEM_PROCESSOR=aarch64',
  ],
};
if (arch !== os.arch() && !CROSS[arch]) throw new Error(`shmkit: no cross toolchain known for ${arch}`);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [
  cmakeJs,
  'rebuild',
  '--prefer-make',
  '--directory',
  path.join(__dirname, '..'),
  '--out',
  path.join(process.cwd(), 'build'),
  '--target',
  'shmkit',
  ...(arch === os.arch() ? [] : CROSS[arch]),
  ...(debug ? ['--debug'] : []),
];
execFileSync(process.execPath, args, { stdio: 'inherit' });
