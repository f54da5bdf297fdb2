// The C programs of native/tools (the ring producer/consumer and the C pipe floor of
// `shmkit bench`), built on first use rather than at every install: an install only
// needs the addon, and these need nothing but a C compiler (no cmake).
//
// Where: `build/tools/` of the package (beside the addon, removed with the package),
// or, when the package directory is not writable (a global install by root), the
// user's cache `$XDG_CACHE_HOME/shmkit/tools/` (else `~/.cache/shmkit/tools/`). A
// binary is rebuilt when its sources or the compile command change (a key file
// beside it holds their hash), so a stale one is never run. Run as a script
// (`node bench/native-tools.mjs`, part of `npm run build:native`) it builds them all.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const TOOL_SOURCES = join(ROOT, 'native', 'tools');
const INCLUDE = join(ROOT, 'native', 'include');

/** Each tool: its source file in native/tools and the libraries it links (as CMakeLists.txt does). */
export const TOOLS = {
  ring_producer: { source: 'ring_producer.c', libs: ['-lrt'] },
  ring_consumer: { source: 'ring_consumer.c', libs: ['-lrt'] },
  pipe_bench: { source: 'pipe_bench.c', libs: [] },
  memcpy_bench: { source: 'memcpy_bench.c', libs: [] },
  ring_pingpong: { source: 'ring_pingpong.c', libs: ['-lrt'] },
};

/** The same flags as CMakeLists.txt (C_STANDARD 11 without extensions, -O2 -Wall -Wextra). */
const CFLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra'];

/** The error of a tool that cannot be built; `code` says why. */
function toolError(code, message, extra = {}) {
  return Object.assign(new Error(message), { code, ...extra });
}

/** The directories a built tool may be cached in, preferred first. */
export function cacheDirs() {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return [join(ROOT, 'build', 'tools'), join(cache, 'shmkit', 'tools')];
}

function writable(dir) {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The compilers tried, in order: $CC, then cc, gcc, clang. */
function compilers() {
  return [...new Set([process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean))];
}

function run(file, args) {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ error, stdout, stderr }),
    );
  });
}

/** The first compiler that runs, or undefined. */
async function findCompiler() {
  for (const cc of compilers()) {
    const { error } = await run(cc, ['--version']);
    if (!error) return cc;
  }
  return undefined;
}

/** A hash of what goes into `name`: its source, the headers it may include and the flags. */
function keyOf(name) {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([CFLAGS, TOOLS[name].libs]));
  const headers = [
    ...readdirSync(TOOL_SOURCES)
      .filter((f) => f.endsWith('.h'))
      .map((f) => join(TOOL_SOURCES, f)),
    ...readdirSync(join(INCLUDE, 'shmkit')).map((f) => join(INCLUDE, 'shmkit', f)),
  ].sort();
  for (const file of [join(TOOL_SOURCES, TOOLS[name].source), ...headers]) hash.update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

function cached(dir, name, key) {
  const file = join(dir, name);
  try {
    return existsSync(file) && readFileSync(`${file}.key`, 'utf8') === key ? file : undefined;
  } catch {
    return undefined;
  }
}

/** Compiles `name` into `dir`; concurrent builders each write a temp file and rename it into place. */
async function compile(cc, name, dir, key) {
  const out = join(dir, name);
  const temp = `${out}.${process.pid}.tmp`;
  const args = [...CFLAGS, '-I', INCLUDE, '-o', temp, join(TOOL_SOURCES, TOOLS[name].source), ...TOOLS[name].libs];
  const { error, stderr } = await run(cc, args);
  if (error) {
    rmSync(temp, { force: true });
    throw toolError(
      'ERR_SHMKIT_TOOL_BUILD',
      `cannot build the C tool ${name} with ${cc}: ${(stderr || error.message).trim().split('\n').slice(0, 5).join('\n')}`,
    );
  }
  const keyTemp = `${out}.key.${process.pid}.tmp`;
  // The key is written only after the binary: a key never describes a binary it did not come with.
  renameSync(temp, out);
  writeFileSync(keyTemp, key);
  renameSync(keyTemp, `${out}.key`);
  return out;
}

/**
 * Paths of the C tools `names` (keys of TOOLS), building the missing ones. Resolves with
 * { name: path }; rejects with code ERR_SHMKIT_NO_COMPILER (no C compiler: the message says
 * what to install) or ERR_SHMKIT_TOOL_BUILD (the compiler refused; its first lines quoted).
 */
export async function ensureTools(names) {
  const paths = {};
  for (const name of names) if (!TOOLS[name]) throw new RangeError(`unknown C tool '${name}'`);
  const dirs = cacheDirs();
  const missing = [];
  for (const name of names) {
    const key = keyOf(name);
    const hit = dirs.map((dir) => cached(dir, name, key)).find(Boolean);
    if (hit) paths[name] = hit;
    else missing.push(name);
  }
  if (missing.length === 0) return paths;
  const cc = await findCompiler();
  if (!cc) {
    throw toolError(
      'ERR_SHMKIT_NO_COMPILER',
      `no C compiler found (tried ${compilers().join(', ')}): the C tools ${missing.join(', ')} cannot be built; ` +
        'install one (Debian/Ubuntu: apt-get install gcc) or set CC',
    );
  }
  const dir = dirs.find(writable);
  if (!dir) {
    throw toolError('ERR_SHMKIT_TOOL_BUILD', `cannot build the C tools: none of ${dirs.join(', ')} is writable`);
  }
  for (const name of missing) paths[name] = await compile(cc, name, dir, keyOf(name));
  return paths;
}

// As a script: build every tool (npm run build:native), print where each is.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureTools(Object.keys(TOOLS)).then(
    (paths) => {
      for (const [name, path] of Object.entries(paths)) process.stdout.write(`${name}: ${path}\n`);
    },
    (error) => {
      process.stderr.write(`shmkit: ${error.message} (${error.code})\n`);
      process.exitCode = 1;
    },
  );
}
