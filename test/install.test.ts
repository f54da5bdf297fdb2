/**
 * Installing shmkit as a user does: from the packed tarball, into a project of
 * its own, with no compiler on PATH or with install scripts skipped. `npm pack`
 * runs in a copy of the sources, so its `prepare` (tsc) and `prepack` (the
 * prebuild) never touch this checkout's dist/ or build/, which the other test
 * files use meanwhile. docs/install.md says what these tests hold to.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPrefix, uniqueName } from './helpers.js';

const run = promisify(execFile);
const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const INSTALL_DOCS = 'https://github.com/shmkit/shmkit/blob/main/docs/install.md';
const PREBUILD = 'prebuilds/linux-x64/shmkit.glibc.node';
/** What `npm pack` needs from the checkout: the package's files and what builds them. */
const SOURCES = [
  ...['package.json', 'README.md', 'CMakeLists.txt', 'binding.gyp', 'tsconfig.json', 'tsconfig.build.json'],
  ...['lib', 'native', 'scripts', 'docs', 'bench', 'nats'],
];

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

let tmp = '';
let tarball = '';
/** A PATH with node, npm and sh only: no cmake, make, cc, c++, g++ or clang. */
let bareBin = '';
const installs: Record<string, Outcome> = {};

/** npm's own executable (bin/npm-cli.js), found on PATH. */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'npm');
    if (fs.existsSync(candidate)) return fs.realpathSync(candidate);
  }
  throw new Error('npm is not on PATH');
}

/**
 * The environment for a nested npm: this one without what `npm test` sets for
 * its scripts (npm_config_prefix, npm_config_local_prefix, … would point the
 * nested npm at this checkout), but with the cache and registry settings.
 */
function npmEnv(PATH = process.env.PATH ?? ''): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.has(key)));
  return { ...env, PATH };
}

async function npm(args: string[], cwd: string, PATH?: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const started = performance.now();
  const env = { ...npmEnv(PATH), ...extraEnv };
  const options = { cwd, env, encoding: 'utf8' as const, maxBuffer: 64 << 20 };
  try {
    const { stdout, stderr } = await run(process.execPath, [npmCli(), ...args], options);
    return { code: 0, stdout, stderr, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    const seconds = (performance.now() - started) / 1000;
    return { code: Number(failed.code ?? -1), stdout: failed.stdout ?? '', stderr: failed.stderr ?? '', seconds };
  }
}

/** A consumer project in tmp/<name> that installs `tgz` with `flags`. */
async function install(name: string, tgz: string, flags: string[], PATH?: string): Promise<void> {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true }));
  const args = ['install', tgz, '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', ...flags];
  installs[name] = await npm(args, dir, PATH);
}

/** The same tarball without prebuilds/: what a platform with no prebuild gets. */
async function withoutPrebuilds(tgz: string): Promise<string> {
  const unpacked = path.join(tmp, 'unpacked');
  fs.mkdirSync(unpacked);
  await run('tar', ['-xzf', tgz, '-C', unpacked]);
  fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true });
  const stripped = path.join(tmp, 'shmkit-no-prebuilds.tgz');
  await run('tar', ['-czf', stripped, '-C', unpacked, 'package']);
  return stripped;
}

function makeBareBin(): string {
  const dir = path.join(tmp, 'bin');
  fs.mkdirSync(dir);
  fs.symlinkSync(process.execPath, path.join(dir, 'node'));
  fs.symlinkSync(npmCli(), path.join(dir, 'npm'));
  fs.symlinkSync('/bin/sh', path.join(dir, 'sh')); // npm runs scripts with `sh -c`
  return dir;
}

// The consumer's side of the round trip: the parent imports shmkit (and
// requires it), creates a ring, pushes one message; a child process requires
// shmkit, opens the ring and pops it. Each reports the addon file it mapped.
const PARENT = `
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import * as esm from 'shmkit';
const cjs = createRequire(import.meta.url)('shmkit');
// shmkit's own .node file (other packages may map theirs, e.g. msgpackr's extractor)
const addon = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]).find((f) => /\\/node_modules\\/shmkit\\/.*\\.node$/.test(f ?? ''));
const name = process.argv[2];
const ring = esm.RingBuffer.create(name, { capacityBytes: 4096 });
try {
  const child = spawn(process.execPath, ['child.cjs', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  await ring.push(new TextEncoder().encode('hello from ' + process.pid), { timeoutMs: 20000 });
  const code = await new Promise((resolve) => child.on('close', resolve));
  console.log(JSON.stringify({ sameClass: esm.RingBuffer === cjs.RingBuffer, pid: process.pid, addon: addon(), code, child: JSON.parse(output) }));
} finally {
  ring.close();
  ring.unlink();
}
`;
const CHILD = `
const fs = require('node:fs');
const { RingBuffer } = require('shmkit');
const ring = RingBuffer.open(process.argv[2]);
ring.pop({ timeoutMs: 20000 }).then((bytes) => {
  const addon = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]).find((f) => /\\/node_modules\\/shmkit\\/.*\\.node$/.test(f ?? ''));
  console.log(JSON.stringify({ message: new TextDecoder().decode(bytes), addon }));
  ring.close();
});
`;

/** Moves one message from a parent to a child process in consumer project `name`. */
async function roundTrip(name: string): Promise<{ parent: string; child: string; message: string }> {
  const dir = path.join(tmp, name);
  fs.writeFileSync(path.join(dir, 'parent.mjs'), PARENT);
  fs.writeFileSync(path.join(dir, 'child.cjs'), CHILD);
  const env = { ...npmEnv(bareBin) };
  const { stdout } = await run(process.execPath, ['parent.mjs', uniqueName('install-ring')], { cwd: dir, env });
  const result = JSON.parse(stdout);
  expect(result).toMatchObject({ sameClass: true, code: 0, child: { message: `hello from ${result.pid}` } });
  return { parent: result.addon, child: result.child.addon, message: result.child.message };
}

/** Disk usage of `dir` in MiB (0 if absent), as du(1) counts it. */
function sizeMiB(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) / 1024;
}

/** An ELF file's machine (62: x86-64) and whether its symbol table was stripped. */
function elf(file: string): { machine: number; stripped: boolean } {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return { machine: bytes.readUInt16LE(18), stripped: !bytes.includes('.symtab') };
}

describe('installing the packed tarball', () => {
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix()}install-`));
    const src = path.join(tmp, 'src');
    for (const entry of SOURCES) fs.cpSync(path.join(root, entry), path.join(src, entry), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(src, 'node_modules'));
    // Only this machine's own prebuild: the arm64 cross build and its qemu
    // smoke test (scripts/prebuilds.js) take minutes and tools CI lacks.
    const packed = await npm(['pack', '--pack-destination', tmp], src, undefined, {
      SHMKIT_PREBUILD_ARCHS: process.arch,
    });
    if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`);
    tarball = path.join(tmp, `shmkit-${pkg.version}.tgz`);
    bareBin = makeBareBin();
    const bare = await withoutPrebuilds(tarball);
    // The one whose time is reported runs alone; the others side by side.
    await install('no-toolchain', tarball, [], bareBin);
    await Promise.all([
      install('ignore-scripts', tarball, ['--ignore-scripts']),
      install('no-prebuild-no-toolchain', bare, [], bareBin),
      install('no-prebuild-ignore-scripts', bare, ['--ignore-scripts']),
    ]);
  }, 300_000); // about 50 s on an idle 2-vCPU machine; a busy one can take twice that

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('packs a stripped linux-x64 glibc prebuild and the install script', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { encoding: 'utf8' });
    const files = stdout.split('\n');
    expect(files).toContain(`package/${PREBUILD}`);
    expect(files.filter((file) => file.startsWith('package/prebuilds/') && file.endsWith('.node'))).toEqual([
      `package/${PREBUILD}`,
    ]);
    expect(files).toContain('package/scripts/install.js');
    expect(files).toContain('package/dist/index.d.mts');
    expect(files).toContain('package/dist/nats/index.d.mts'); // shmkit/nats
    expect(files).toContain('package/nats/package.json'); // its types under moduleResolution node10
    expect(files.filter((file) => file.startsWith('package/build/'))).toEqual([]);
    expect(elf(path.join(tmp, 'no-toolchain/node_modules/shmkit', PREBUILD))).toEqual({ machine: 62, stripped: true });
  });

  it('installs with no cmake, make or compiler on PATH, compiles nothing, and works', async () => {
    const outcome = installs['no-toolchain'];
    expect(outcome?.stderr).not.toMatch(/shmkit: cannot install/);
    expect(outcome?.code).toBe(0);
    const installed = path.join(tmp, 'no-toolchain/node_modules/shmkit');
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    const { parent, child } = await roundTrip('no-toolchain');
    expect(parent).toBe(fs.realpathSync(path.join(installed, PREBUILD)));
    expect(child).toBe(parent);

    // Measured, not asserted (timing is no pass/fail threshold): the consumer's cost.
    const modules = path.join(tmp, 'no-toolchain/node_modules');
    const total = sizeMiB(modules);
    const chart = sizeMiB(path.join(modules, 'echarts')) + sizeMiB(path.join(modules, 'zrender'));
    console.log(
      `consumer install with the prebuild: ${outcome?.seconds.toFixed(1)} s, node_modules ${total.toFixed(1)} MiB ` +
        `(${(total - chart).toFixed(1)} MiB without echarts/zrender)`,
    );
  });

  it('works when install scripts were skipped (--ignore-scripts): the loader finds the prebuild', async () => {
    expect(installs['ignore-scripts']?.code).toBe(0);
    const installed = path.join(tmp, 'ignore-scripts/node_modules/shmkit');
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    const { parent } = await roundTrip('ignore-scripts');
    expect(parent).toBe(fs.realpathSync(path.join(installed, PREBUILD)));
  });

  it('with no prebuild and no toolchain, fails with one shmkit message naming what to install', () => {
    const outcome = installs['no-prebuild-no-toolchain'];
    expect(outcome?.code).not.toBe(0);
    const lines = (outcome?.stderr ?? '').split('\n').filter((line) => line.includes('shmkit:'));
    expect(lines.join('\n')).toMatch(/no prebuilt binary fits linux-x64 \(glibc [\d.]+\)/);
    expect(lines.join('\n')).toMatch(/missing: cmake, make, a C\+\+ compiler/);
    expect(lines.join('\n')).toContain('apt-get install cmake g++ make');
    expect(lines.join('\n')).toContain(INSTALL_DOCS);
    // Said once, and no stack trace or cmake-js error beside it.
    expect(lines.filter((line) => line.includes(INSTALL_DOCS))).toHaveLength(1);
    expect(outcome?.stderr).not.toMatch(/^\s*at |No native build was found|OMG|cmake-js/m);
  });

  it('loading shmkit with no binary throws ERR_SHMKIT_NO_BINARY, saying what to do', async () => {
    expect(installs['no-prebuild-ignore-scripts']?.code).toBe(0);
    const dir = path.join(tmp, 'no-prebuild-ignore-scripts');
    const script = `try { require('shmkit'); } catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' });
    const { code, message } = JSON.parse(stdout);
    expect(code).toBe('ERR_SHMKIT_NO_BINARY');
    expect(message).toMatch(/^shmkit has no native binary for linux-x64 \(glibc [\d.]+\)/);
    expect(message).toContain('apt-get install cmake g++ make');
    expect(message).toContain('npm rebuild shmkit');
    expect(message).toContain(INSTALL_DOCS);
    expect(message).not.toMatch(/No native build was found/);
  });

  it('has types that resolve as ESM from import and as CJS from require (@arethetypeswrong/cli)', async () => {
    const attw = path.join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const { stdout } = await run(process.execPath, [attw, tarball, '--format', 'json'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '{}' }));
    const report = JSON.parse(stdout);
    expect(report.analysis.problems).toEqual([]);
    expect(report.problems).toEqual({});
    const resolutions = report.analysis.entrypoints['.'].resolutions;
    expect(resolutions['node16-esm'].resolution.fileName).toMatch(/dist\/index\.d\.mts$/);
    expect(resolutions['node16-cjs'].resolution.fileName).toMatch(/dist\/index\.d\.ts$/);
    const nats = report.analysis.entrypoints['./nats'].resolutions;
    expect(nats['node16-esm'].resolution.fileName).toMatch(/dist\/nats\/index\.d\.mts$/);
    expect(nats['node16-cjs'].resolution.fileName).toMatch(/dist\/nats\/index\.d\.ts$/);
    expect(nats.node10.resolution.fileName).toMatch(/dist\/nats\/index\.d\.ts$/);
  });

  it('names the install docs and the repository in package.json', () => {
    expect(INSTALL_DOCS.startsWith(pkg.homepage.replace(/#readme$/, ''))).toBe(true);
    expect(pkg.repository.url).toContain('github.com/shmkit/shmkit');
    expect(pkg.os).toEqual(['linux']);
  });
});
