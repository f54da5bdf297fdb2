#!/usr/bin/env node
// Demo: two processes move 1 GiB through shared memory, guarded by two
// semaphores (the classic bounded buffer: `empty` counts free slots, `full`
// counts filled ones). Both sides hash what they saw with SHA-256; the digests
// must match. Prints the throughput, hashing included.
//
//   node examples/transfer.mjs [--total-mib 1024] [--chunk-kib 4096] [--slots 4]
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Semaphore, SharedMemory } from 'shmkit';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'total-mib': { type: 'string', default: '1024' },
    'chunk-kib': { type: 'string', default: '4096' },
    slots: { type: 'string', default: '4' },
  },
});
const totalMiB = Number(values['total-mib']);
const chunkKiB = Number(values['chunk-kib']);
const slots = Number(values.slots);
for (const [flag, value] of [
  ['--total-mib', totalMiB],
  ['--chunk-kib', chunkKiB],
  ['--slots', slots],
]) {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${flag} must be a positive integer, got ${value}`);
}
const chunkBytes = chunkKiB * 1024;
const chunks = Math.ceil((totalMiB * 1024 * 1024) / chunkBytes);

function slot(shm, i) {
  return new Uint8Array(shm.buffer, (i % slots) * chunkBytes, chunkBytes);
}

// Child: fills slots with data, posting `full` after each one.
async function produce(name) {
  const shm = SharedMemory.open(name);
  const empty = Semaphore.open(`${name}-empty`);
  const full = Semaphore.open(`${name}-full`);
  const source = randomBytes(chunkBytes);
  const hash = createHash('sha256');
  for (let i = 0; i < chunks; i++) {
    empty.waitSync({ timeoutMs: 30_000 });
    const view = slot(shm, i);
    view.set(source);
    new DataView(view.buffer, view.byteOffset).setUint32(0, i); // every chunk differs
    hash.update(view);
    full.post();
  }
  process.send({ digest: hash.digest('hex') });
  for (const handle of [shm, empty, full]) handle.close();
}

// Parent: creates the objects, forks the producer, consumes and verifies.
async function consume() {
  const name = `/shmkit-demo-${process.pid}`;
  const shm = SharedMemory.create(name, { size: slots * chunkBytes });
  const empty = Semaphore.create(`${name}-empty`, { value: slots });
  const full = Semaphore.create(`${name}-full`, { value: 0 });
  try {
    const child = fork(new URL(import.meta.url).pathname, ['producer', name, ...process.argv.slice(2)]);
    const producerDigest = new Promise((resolve, reject) => {
      child.once('message', (message) => resolve(message.digest));
      child.once('exit', (code) => reject(new Error(`producer exited with code ${code}`)));
    });
    const hash = createHash('sha256');
    const start = process.hrtime.bigint();
    for (let i = 0; i < chunks; i++) {
      await full.wait({ timeoutMs: 30_000 });
      hash.update(slot(shm, i));
      empty.post();
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const digest = hash.digest('hex');
    const expected = await producerDigest;
    const bytes = chunks * chunkBytes;
    console.log(
      `moved ${(bytes / 2 ** 20).toFixed(0)} MiB in ${chunks} chunks of ${chunkKiB} KiB through ${slots} slots`,
    );
    console.log(
      `time ${seconds.toFixed(3)} s, throughput ${(bytes / 2 ** 20 / seconds).toFixed(0)} MiB/s (SHA-256 on both sides included)`,
    );
    console.log(`sha256 producer ${expected}`);
    console.log(`sha256 consumer ${digest}`);
    if (digest !== expected) throw new Error('checksum mismatch: the data was corrupted in transit');
    console.log('checksum OK');
  } finally {
    for (const handle of [shm, empty, full]) {
      handle.close();
      handle.unlink();
    }
  }
}

if (positionals[0] === 'producer') await produce(positionals[1]);
else await consume();
