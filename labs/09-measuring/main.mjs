// Lab 9: measuring. Runs the ring benchmark on a small subset, then reads
// its JSON and says what the numbers mean.
//   node labs/09-measuring/main.mjs
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const log = (...args) => console.log('[lab 9]', ...args);
const root = path.dirname(createRequire(import.meta.url).resolve('shmkit/package.json'));
const json = path.join(os.tmpdir(), `lab09-${process.pid}.json`);

// Three transports, two sizes, one run: ~6 s on 2 vCPUs. Drop --quick and
// add sizes for real numbers (a full run takes minutes).
const args = [
  path.join(root, 'bench/ring/main.mjs'),
  '--quick',
  '--runs',
  '1',
  '--sizes',
  '64,65536',
  '--transports',
  'ring-spsc,ipc-json,unix',
  '--json',
  json,
];
log(`node bench/ring/main.mjs ${args.slice(1).join(' ')}`);
const bench = spawn(process.execPath, args, { stdio: 'inherit' });
const [code] = await once(bench, 'exit');
if (code !== 0) throw new Error(`the benchmark exited with ${code}`);

const result = JSON.parse(fs.readFileSync(json, 'utf8'));
fs.rmSync(json);
console.log();
log('--- reading the numbers ---');
const rate = (transport, size) =>
  result.cases.find((c) => c.transport === transport && c.size === size)?.msgsPerSec.median ?? Number.NaN;
for (const size of [64, 65536]) {
  const ring = rate('ring-spsc', size);
  const name = size === 64 ? '64 B' : '64 KiB';
  log(
    `${name}: ring SPSC ${(ring / rate('ipc-json', size)).toFixed(1)}x process.send, ` +
      `${(ring / rate('unix', size)).toFixed(1)}x unix socket (msgs/s, higher is better)`,
  );
}
// Round trips of one 64-byte message, ping-pong between two processes on two CPUs.
const p50 = (mode) => result.latency.find((l) => l.mode === mode && l.placement === 'cross')?.p50 ?? Number.NaN;
log(`one 64 B message and back, consumer parked on a futex: p50 ${p50('ring-park').toFixed(1)} µs`);
log(`one 64 B message and back, consumer spinning:          p50 ${p50('ring-spin').toFixed(1)} µs`);
log(`a bare futex wake-up and back, no data at all:          p50 ${p50('futex').toFixed(1)} µs`);
log('a stream of messages: the ring copies each one once, no system call; sockets copy twice and enter the kernel');
log('a single message to a sleeping peer: the wake-up (futex + scheduler) costs as much as any kernel IPC');
