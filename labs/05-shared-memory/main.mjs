// Lab 5: shared memory, shm_open(3) + mmap(2), and a race made visible.
//   node labs/05-shared-memory/main.mjs
//
// Two processes map the same 4 KiB object. Both add 1 to the same counter
// many times: first with a plain `+=`, then with Atomics.add.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SharedMemory } from 'shmkit';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
const name = `/lab05-${process.pid}-counter`;
const PER_CHILD = 5_000_000;

// The object is a file in /dev/shm (tmpfs): its pages live in RAM, and every
// process that maps it sees the very same physical pages. Nothing is copied.
const shm = SharedMemory.create(name, { size: 4096 });
// Word 0: how many children are ready; word 1: the start flag; word 2: the counter.
const words = new Int32Array(shm.buffer);
log(`created ${name} (${shm.size} bytes) in /dev/shm`);

async function round(mode) {
  words.fill(0, 0, 3);
  const script = fileURLToPath(new URL('./adder.mjs', import.meta.url));
  const children = [1, 2].map(() => fork(script, [name, mode, String(PER_CHILD)]));
  // Start both at the same moment, so that they really run side by side.
  while (Atomics.load(words, 0) < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  Atomics.store(words, 1, 1);
  await Promise.all(children.map((child) => once(child, 'exit')));
  const expected = 2 * PER_CHILD;
  const got = Atomics.load(words, 2);
  log(`${mode}: expected ${expected}, got ${got} (${expected - got} updates lost)`);
  return expected - got;
}

try {
  // On a busy machine the two children may happen not to run at the same
  // moment: then nothing is lost. Try again (a few times at most).
  for (let attempt = 1; attempt <= 5 && (await round('plain')) === 0; attempt++) {
    log('no overlap this time: the children never ran at the same moment; again');
  }
  await round('atomic');
} finally {
  shm.close();
  SharedMemory.unlink(name);
  log(`removed ${name}`);
}
