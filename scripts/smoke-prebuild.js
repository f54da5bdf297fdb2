#!/usr/bin/env node
// Smoke test of a cross-built prebuild under qemu-user (scripts/prebuilds.js
// runs it before a cross-built binary may go into the package): Node for that
// arch (the npm package node-linux-<arch>, same version as this Node) loads
// shmkit from dist/ with only prebuilds/linux-<arch>/ beside it, and one
// message moves through a RingBuffer from one such process to another (the
// consumer pops with a wait, so the futex path is likely taken too).
//   node scripts/smoke-prebuild.js arm64
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const QEMU = { arm64: { qemu: 'qemu-aarch64', sysroot: '/usr/aarch64-linux-gnu' } };
const arch = process.argv[2];
const root = path.join(__dirname, '..');
const { qemu, sysroot } = QEMU[arch] ?? {};
if (!qemu) throw new Error(`shmkit: no qemu known for ${arch}`);

/** This Node version for `arch`, from npm, cached in ~/.cache/shmkit between runs. */
function foreignNode() {
  const version = process.versions.node;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const dir = path.join(cache, 'shmkit', `node-linux-${arch}-${version}`);
  const node = path.join(dir, 'package', 'bin', 'node');
  if (!fs.existsSync(node)) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['pack', `node-linux-${arch}@${version}`, '--pack-destination', dir], { stdio: 'ignore' });
    const tarball = path.join(dir, `node-linux-${arch}-${version}.tgz`);
    execFileSync('tar', ['-xzf', tarball, '-C', dir]);
    fs.rmSync(tarball);
  }
  return node;
}

// Both sides import/require shmkit as a user would and report shmkit's .node file they
// mapped (other packages may map theirs, e.g. msgpackr's extractor).
const MAPPED_ADDON = `(() => require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n')
  .map((line) => line.split(/\\s+/)[5]).find((file) => /\\/node_modules\\/shmkit\\/.*\\.node$/.test(file ?? '')))()`;
const CONSUMER = `const { RingBuffer } = require('shmkit');
const ring = RingBuffer.open(process.argv[2]);
console.log('ready');
ring.pop({ timeoutMs: 60000 }).then((bytes) => {
  console.log(JSON.stringify({ message: new TextDecoder().decode(bytes), addon: ${MAPPED_ADDON} }));
  ring.close();
});
`;
const PRODUCER = `import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { RingBuffer } from 'shmkit';
const require = createRequire(import.meta.url);
const ring = RingBuffer.create(process.argv[2], { capacityBytes: 4096 });
try {
  const child = spawn('./node', ['consumer.cjs', process.argv[2]], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  let pushed = false;
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (!pushed && output.startsWith('ready')) {
      pushed = true;
      ring.pushSync(new TextEncoder().encode('hello'));
    }
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error('the consumer exited with ' + code);
  const result = JSON.parse(output.slice('ready'.length));
  console.log(JSON.stringify({ arch: process.arch, ...result, parentAddon: ${MAPPED_ADDON} }));
} finally {
  ring.close();
  ring.unlink();
}
`;

const stage = fs.mkdtempSync(path.join(os.tmpdir(), `shmkit-smoke-${arch}-`));
try {
  const pkg = path.join(stage, 'node_modules', 'shmkit');
  fs.mkdirSync(path.join(pkg, 'prebuilds'), { recursive: true });
  fs.cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  fs.cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  const prebuilds = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.cpSync(prebuilds, path.join(pkg, 'prebuilds', `linux-${arch}`), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'));

  const launcher = path.join(stage, 'node');
  fs.writeFileSync(launcher, `#!/bin/sh\nexec ${qemu} -L ${sysroot} ${foreignNode()} "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(stage, 'consumer.cjs'), CONSUMER);
  fs.writeFileSync(path.join(stage, 'producer.mjs'), PRODUCER);
  const name = `/shmkit-smoke-${process.pid}`;
  const output = execFileSync(launcher, ['producer.mjs', name], { cwd: stage, encoding: 'utf8' });
  const result = JSON.parse(output);
  const expected = path.join(pkg, 'prebuilds', `linux-${arch}`);
  const loaded = [result.addon, result.parentAddon].every((file) => file?.startsWith(expected));
  if (result.arch !== arch || result.message !== 'hello' || !loaded) {
    throw new Error(`shmkit: the ${arch} prebuild failed its smoke test: ${output}`);
  }
  console.log(`shmkit: the ${arch} prebuild passed its smoke test under ${qemu} (Node ${process.versions.node})`);
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}
