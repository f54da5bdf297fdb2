#!/usr/bin/env node
// `npm run prebuilds` (and `prepack`): builds the Node-API binary for this
// platform with prebuildify into prebuilds/<platform>-<arch>/shmkit.napi.<libc>.node,
// stripped, offline. prebuildify runs in a staging directory (build-prebuilds/)
// so that the contributor's build/ — which node-gyp-build prefers and the
// tests use — is neither rebuilt nor emptied (prebuildify moves the .node file
// it finds). docs/building.md, "Prebuilds".
const fs = require('node:fs');
const path = require('node:path');
const prebuildify = require('prebuildify');

const root = path.join(__dirname, '..');
const staging = path.join(root, 'build-prebuilds');
fs.rmSync(staging, { recursive: true, force: true });
fs.mkdirSync(staging, { recursive: true });

const options = {
  name: 'shmkit',
  napi: true,
  strip: true,
  tagLibc: true,
  cwd: staging,
  out: root,
  nodeGyp: path.join(__dirname, 'prebuildify-cmake.js'),
};
prebuildify(options, (error) => {
  fs.rmSync(staging, { recursive: true, force: true });
  if (error) {
    console.error(`shmkit: building the prebuild failed: ${error.message}`);
    process.exit(1);
  }
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  for (const file of fs.readdirSync(dir)) console.log(`shmkit: prebuild ${path.relative(root, path.join(dir, file))}`);
});
