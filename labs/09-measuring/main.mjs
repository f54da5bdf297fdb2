// Lab 9: measuring. Runs `shmkit bench` on a small subset (a few seconds),
// writes its table, JSON and chart, then reads the JSON and says what the
// numbers mean.
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
// The chart stays beside this file for you to open in a browser (git ignores it).
const chart = path.join(path.dirname(new URL(import.meta.url).pathname), 'chart.svg');

// Four primitives, two sizes, one short run each (--quick: no steady-state warm-up): a few
// seconds on 2 vCPUs. Drop --quick/--only/--sizes/--repeat/--duration for the full suite, which
// warms each case up until its rate is stable (a few minutes).
const args = [
  path.join(root, 'dist/tooling/cli/main.js'),
  'bench',
  '--quick',
  '--only',
  'ring,ring-park,uds,ipc-json,futex',
  '--sizes',
  '64,64k',
  '--repeat',
  '1',
  '--duration',
  '0.3',
  '--rounds',
  '500',
  '--no-progress',
  '--json',
  json,
  '--chart',
  chart,
];
log(`shmkit ${args.slice(1).join(' ')}`);
const bench = spawn(process.execPath, args, { stdio: 'inherit' });
const [code] = await once(bench, 'exit');
if (code !== 0) throw new Error(`the benchmark exited with ${code}`);

const result = JSON.parse(fs.readFileSync(json, 'utf8'));
log(`the chart: open ${path.relative(process.cwd(), chart)} in a browser`);
fs.rmSync(json);
console.log();
log('--- reading the numbers ---');
const rate = (primitive, size) =>
  result.throughput.find((t) => t.primitive === primitive && t.size === size && t.status === 'ok')?.msgsPerSec.median ??
  Number.NaN;
for (const size of [64, 65536]) {
  const ring = rate('ring', size);
  const name = size === 64 ? '64 B' : '64 KiB';
  log(
    `${name}: ring SPSC ${(ring / rate('ipc-json', size)).toFixed(1)}x process.send, ` +
      `${(ring / rate('uds', size)).toFixed(1)}x unix socket (msgs/s, higher is better)`,
  );
}
// Round trips of one 64-byte message, ping-pong between two processes.
const p50 = (primitive) => result.latency.find((l) => l.primitive === primitive)?.p50Us ?? Number.NaN;
log(`one 64 B message and back, consumer parked on a futex: p50 ${p50('ring-park').toFixed(1)} µs`);
log(`one 64 B message and back, consumer spinning first:    p50 ${p50('ring').toFixed(1)} µs`);
log(`a bare futex wake-up and back, no data at all:          p50 ${p50('futex').toFixed(1)} µs`);
log('a stream of messages: the ring copies each one once, no system call; sockets copy twice and enter the kernel');
log('a single message to a sleeping peer: the wake-up (futex + scheduler) costs as much as any kernel IPC');
