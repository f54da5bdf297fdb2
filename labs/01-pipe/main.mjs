// Lab 1: an anonymous pipe, pipe(2), between two processes.
//   node labs/01-pipe/main.mjs
//
// The shell is the classic pipe maker: for `a | b` it calls pipe(2), forks
// twice, and dup2()s the write end onto a's fd 1 and the read end onto b's fd 0.
// We let /bin/sh do exactly that, then watch the two ends from inside.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);

// Surprise first: Node's own `stdio: 'pipe'` is NOT a pipe(2). libuv makes a
// Unix-domain socketpair(2), which has different buffer sizes and semantics.
const probe = spawnSync(process.execPath, [here('./writer.mjs'), 'probe'], { stdio: ['pipe', 'inherit', 'inherit'] });
if (probe.status !== 0) process.exit(1);

// Run `writer | reader` through the shell: one pipe(2), two child processes.
// The writer creates the file LAB01_READY once its data is in the pipe, so the
// reader starts reading after the writes, however slowly the machine starts processes.
function pipeline(mode) {
  log(`sh -c 'writer.mjs ${mode} | reader.mjs ${mode}'`);
  const ready = path.join(os.tmpdir(), `lab01-${process.pid}-${mode}.ready`);
  const child = spawn(
    '/bin/sh',
    ['-c', '"$0" "$1" "$3" | "$0" "$2" "$3"', process.execPath, here('./writer.mjs'), here('./reader.mjs'), mode],
    { stdio: 'inherit', env: { ...process.env, LAB01_READY: ready } },
  );
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      fs.rmSync(ready, { force: true });
      if (code === 0) resolve();
      else reject(new Error(`pipeline ${mode} exited with ${code}`));
    });
  });
}

log('experiment 1: three write() calls, one slow reader');
await pipeline('boundaries');
log('experiment 2: a writer that writes 128 KiB to a reader that sleeps first');
await pipeline('full');
log('done: a pipe has no name, so there is nothing to clean up; it vanished with its last descriptor');
