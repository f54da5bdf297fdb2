#!/usr/bin/env node
// The main job on real input: one process reads a real file and streams it
// through a shmkit RingBuffer to a second process that writes it back out;
// both SHA-256 digests are printed (they must match), with the throughput
// beside `cat FILE | node consumer` through a pipe, measured in the same run.
//
//   node bench/stream-file.mjs [FILE] [--chunk BYTES]
//   (default FILE: the running Node binary, process.execPath, ~100 MB)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RingBuffer, SharedMemory } from 'shmkit';

const SELF = fileURLToPath(import.meta.url);

async function sha256(file) {
  const hash = createHash('sha256');
  const { createReadStream } = await import('node:fs');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

/** Role 'producer': reads FILE in chunks into the ring; an empty message marks the end. */
function producer(name, file, chunk) {
  const ring = RingBuffer.open(name);
  const fd = openSync(file, 'r');
  const buffer = new Uint8Array(chunk);
  for (;;) {
    const n = readSync(fd, buffer, 0, chunk, null);
    if (n === 0) break;
    ring.pushSync(n === chunk ? buffer : buffer.subarray(0, n));
  }
  ring.pushSync(new Uint8Array(0));
  closeSync(fd);
  ring.close();
}

/** Role 'consumer': pops chunks from the ring and writes them to OUT until the empty message. */
function consumer(name, out, chunk) {
  const ring = RingBuffer.open(name);
  const fd = openSync(out, 'w');
  const buffer = new Uint8Array(chunk);
  for (;;) {
    const n = ring.popIntoSync(buffer);
    if (n === 0) break;
    writeSync(fd, buffer, 0, n);
  }
  closeSync(fd);
  ring.close();
}

/** Role 'pipe-consumer': reads stdin (a pipe from cat) and writes it to OUT. */
async function pipeConsumer(out) {
  const fd = openSync(out, 'w');
  for await (const data of process.stdin) writeSync(fd, data);
  closeSync(fd);
}

function run(cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  return once(child, 'exit').then(([code, signal]) => {
    if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`);
  });
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      role: { type: 'string' },
      name: { type: 'string' },
      out: { type: 'string' },
      chunk: { type: 'string', default: String(1 << 20) },
    },
  });
  const chunk = Number(values.chunk);
  if (!Number.isInteger(chunk) || chunk < 64 || chunk > 64 << 20)
    throw new RangeError('--chunk must be 64 B to 64 MiB');
  if (values.role === 'producer') return producer(values.name, positionals[0], chunk);
  if (values.role === 'consumer') return consumer(values.name, values.out, chunk);
  if (values.role === 'pipe-consumer') return pipeConsumer(values.out);

  const file = positionals[0] ?? process.execPath;
  const size = statSync(file).size;
  const name = `/shmkit-stream-${process.pid}`;
  const outRing = join(tmpdir(), `shmkit-stream-${process.pid}-ring.out`);
  const outPipe = join(tmpdir(), `shmkit-stream-${process.pid}-pipe.out`);
  let capacity = 1 << 22;
  while (capacity < 4 * (chunk + 64)) capacity *= 2;
  const ring = RingBuffer.create(name, { capacityBytes: capacity });
  try {
    console.log(`file: ${file} (${(size / 1e6).toFixed(1)} MB), chunks of ${chunk} B, ring of ${capacity} B`);
    const source = await sha256(file); // also warms the page cache for both runs
    // Ring: two Node processes, reader → ring → writer.
    let t0 = performance.now();
    await Promise.all([
      run(process.execPath, [SELF, '--role', 'consumer', '--name', name, '--out', outRing, '--chunk', String(chunk)]),
      run(process.execPath, [SELF, '--role', 'producer', '--name', name, '--chunk', String(chunk), file]),
    ]);
    const ringSeconds = (performance.now() - t0) / 1000;
    // Pipe: cat FILE | node consumer.
    t0 = performance.now();
    const consumerChild = spawn(process.execPath, [SELF, '--role', 'pipe-consumer', '--out', outPipe], {
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    const cat = spawn('cat', [file], { stdio: ['ignore', consumerChild.stdin, 'inherit'] });
    consumerChild.stdin.destroy(); // the child and cat hold the pipe now
    const [[catCode], [code]] = await Promise.all([once(cat, 'exit'), once(consumerChild, 'exit')]);
    if (catCode !== 0 || code !== 0) throw new Error(`cat | node consumer failed (${catCode}, ${code})`);
    const pipeSeconds = (performance.now() - t0) / 1000;
    const viaRing = await sha256(outRing);
    const viaPipe = await sha256(outPipe);
    const mbps = (s) => `${(size / 1e6 / s).toFixed(0)} MB/s`;
    console.log(`sha256 source             ${source}`);
    console.log(`sha256 via RingBuffer     ${viaRing} ${viaRing === source ? 'match' : 'MISMATCH'}`);
    console.log(`sha256 via cat | node     ${viaPipe} ${viaPipe === source ? 'match' : 'MISMATCH'}`);
    console.log(`RingBuffer (2 Node processes, file → ring → file): ${ringSeconds.toFixed(2)} s, ${mbps(ringSeconds)}`);
    console.log(
      `cat FILE | node consumer (pipe, file → pipe → file): ${pipeSeconds.toFixed(2)} s, ${mbps(pipeSeconds)}`,
    );
    console.log('(wall time of the whole transfer, process start-up and the output file writes included)');
    if (viaRing !== source || viaPipe !== source) process.exitCode = 1;
  } finally {
    ring.close();
    SharedMemory.unlink(name);
    rmSync(outRing, { force: true });
    rmSync(outPipe, { force: true });
  }
}

main().catch((error) => {
  console.error(error instanceof RangeError ? error.message : error);
  process.exitCode = 1;
});
