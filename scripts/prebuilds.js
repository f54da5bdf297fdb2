#!/usr/bin/env node
// `npm run prebuilds` (and `prepack`): builds the Node-API binaries that ship
// in the package with prebuildify, offline, stripped, tagged with their libc:
// prebuilds/linux-x64/shmkit.glibc.node and, cross-compiled with Debian's
// g++-aarch64-linux-gnu, prebuilds/linux-arm64/shmkit.glibc.node — the latter
// only once it passed scripts/smoke-prebuild.js under qemu-user.
// SHMKIT_PREBUILD_ARCHS=x64 builds only some (the tests pack that way).
//
// prebuildify runs in a staging directory (build-prebuilds/) so that the
// contributor's build/ — which node-gyp-build prefers and the tests use — is
// neither rebuilt nor emptied (prebuildify moves the .node file it finds).
// prebuilds/ is emptied first: the package carries only what this run built.
// docs/building.md, "Prebuilds".
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const prebuildify = promisify(require('prebuildify'));

const root = path.join(__dirname, '..');
const staging = path.join(root, 'build-prebuilds');
const archs = (process.env.SHMKIT_PREBUILD_ARCHS ?? 'x64,arm64').split(',').filter(Boolean);
/** What a cross build for an arch needs on PATH, and the Debian packages that bring it. */
const CROSS = {
  arm64: {
    tools: ['aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip', 'qemu-aarch64'],
    strip: 'aarch64-linux-gnu-strip',
  },
};

function onPath(name) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => fs.existsSync(path.join(dir, name)));
}

function fail(message) {
  console.error(`shmkit: ${message}`);
  process.exit(1);
}

async function build(arch) {
  const cross = arch === os.arch() ? undefined : CROSS[arch];
  if (arch !== os.arch() && !cross) fail(`cannot build a prebuild for ${arch} on ${os.arch()}`);
  const missing = cross?.tools.filter((tool) => !onPath(tool)) ?? [];
  if (missing.length > 0) {
    fail(
      `the ${arch} prebuild needs ${missing.join(', ')}: apt-get install g++-aarch64-linux-gnu qemu-user ` +
        `(or pack without it: SHMKIT_PREBUILD_ARCHS=${os.arch()} npm pack)`,
    );
  }
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    await prebuildify({
      name: 'shmkit',
      napi: true,
      strip: true,
      stripBin: cross?.strip ?? 'strip',
      tagLibc: true,
      arch,
      cwd: staging,
      out: root,
      nodeGyp: path.join(__dirname, 'prebuildify-cmake.js'),
    });
  } catch (error) {
    fail(`building the ${arch} prebuild failed: ${error.message}`);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  // A binary for another arch ships only once it ran there (under qemu).
  if (cross) {
    try {
      execFileSync(process.execPath, [path.join(__dirname, 'smoke-prebuild.js'), arch], { stdio: 'inherit' });
    } catch {
      fs.rmSync(path.join(root, 'prebuilds', `linux-${arch}`), { recursive: true, force: true });
      fail(`the ${arch} prebuild failed its smoke test under qemu (output above): it is not packed`);
    }
  }
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  for (const file of fs.readdirSync(dir)) console.log(`shmkit: prebuild ${path.relative(root, path.join(dir, file))}`);
}

async function main() {
  fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
  for (const arch of archs) await build(arch);
}

main();
