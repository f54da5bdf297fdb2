#!/usr/bin/env node
// npm's install step for shmkit (package.json "install"; docs/install.md).
//
// 1. A native binary that loads here — a prebuild from prebuilds/ or an
//    earlier build in build/ — is used as is: nothing is compiled.
// 2. Otherwise (or with `npm install --build-from-source`) the addon is
//    compiled with cmake-js, if cmake, make and a C/C++ compiler are on PATH.
// 3. Otherwise one message says what is missing, the command that installs
//    it and where the install docs are, and the step fails.
//
// It runs from the package root (npm's cwd for scripts) and needs only the
// package's dependencies (node-gyp-build, cmake-js), not dist/.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const INSTALL_DOCS = 'https://github.com/shmkit/shmkit/blob/main/docs/install.md';
const root = path.join(__dirname, '..');

/** 'linux-x64 (glibc 2.36)': the platform, as prebuilds/ names it, and its C library. */
function target() {
  const glibc = process.report?.getReport().header.glibcVersionRuntime;
  return `${process.platform}-${process.arch} (${glibc ? `glibc ${glibc}` : 'not glibc'})`;
}

/** Whether a binary that node-gyp-build finds for this platform loads. */
function binaryLoads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

/** The first of `names` found as an executable file on PATH, or undefined. */
function onPath(...names) {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      try {
        fs.accessSync(path.join(dir, name), fs.constants.X_OK);
        return name;
      } catch {}
    }
  }
  return undefined;
}

/** A compiler named by an environment variable (CC/CXX, maybe with flags), else one of the usual ones. */
function compiler(variable, ...names) {
  const chosen = process.env[variable]?.trim().split(/\s+/)[0];
  if (chosen) return path.isAbsolute(chosen) ? (fs.existsSync(chosen) ? chosen : undefined) : onPath(chosen);
  return onPath(...names);
}

/** What a source build needs and this machine lacks, in words. */
function missingTools() {
  const missing = [];
  if (!onPath('cmake')) missing.push('cmake');
  if (!onPath('make', 'ninja')) missing.push('make');
  if (!compiler('CXX', 'c++', 'g++', 'clang++')) missing.push('a C++ compiler (g++ or clang++)');
  else if (!compiler('CC', 'cc', 'gcc', 'clang')) missing.push('a C compiler (gcc or clang)');
  return missing;
}

/** The command that installs the toolchain with this machine's package manager (Debian's if none is seen). */
function installCommand() {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  if (onPath('dnf')) return `${sudo}dnf install cmake gcc-c++ make`;
  if (onPath('yum')) return `${sudo}yum install cmake gcc-c++ make`;
  if (onPath('apk')) return `${sudo}apk add cmake g++ make`;
  if (onPath('pacman')) return `${sudo}pacman -S cmake gcc make`;
  if (onPath('zypper')) return `${sudo}zypper install cmake gcc-c++ make`;
  return `${sudo}apt-get install cmake g++ make`;
}

function fail(lines) {
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exit(1);
}

function main() {
  const fromSource = process.env.npm_config_build_from_source === 'true';
  if (!fromSource && binaryLoads()) return;

  const why = fromSource ? 'a build from source was asked for' : `no prebuilt binary fits ${target()}`;
  const missing = missingTools();
  if (missing.length > 0) {
    fail([
      `shmkit: cannot install the native addon: ${why}, and building it needs cmake, make and a C++ compiler.`,
      `shmkit: missing: ${missing.join(', ')}. Install them and run the install again:`,
      `shmkit:     ${installCommand()}`,
      `shmkit: more in ${INSTALL_DOCS}`,
    ]);
  }

  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const args = [cmakeJs, 'compile', ...(onPath('make') ? ['--prefer-make'] : [])];
  const build = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    fail([
      `shmkit: building the native addon from source failed (${why}); cmake-js's output is above.`,
      `shmkit: more in ${INSTALL_DOCS}`,
    ]);
  }
}

main();
