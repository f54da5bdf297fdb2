// Lab 5 child: node adder.mjs NAME plain|atomic COUNT
import { SharedMemory } from 'shmkit';

const [name, mode, count] = process.argv.slice(2);
const log = (...args) => console.log(`[child ${process.pid}]`, ...args);
const shm = SharedMemory.open(name); // mmap the same object: same physical pages
const words = new Int32Array(shm.buffer);

Atomics.add(words, 0, 1); // "I am ready"
while (Atomics.load(words, 1) === 0); // spin until the parent says go

const n = Number(count);
if (mode === 'plain') {
  // `words[2] += 1` is three steps: load, add, store. If the other process
  // stores between our load and our store, one of the two increments is lost.
  for (let i = 0; i < n; i++) words[2] += 1;
} else {
  // Atomics.add is one indivisible read-modify-write (on x86: LOCK XADD).
  for (let i = 0; i < n; i++) Atomics.add(words, 2, 1);
}
log(`${mode}: added 1, ${n} times`);
shm.close();
