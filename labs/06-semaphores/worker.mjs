// Lab 6 part 1: node worker.mjs PREFIX unlocked|locked
// 100 slow read-modify-writes of a shared counter, with or without the lock.
import { Semaphore, SharedMemory } from 'shmkit';

const [prefix, mode] = process.argv.slice(2);
const shm = SharedMemory.open(`${prefix}-data`);
const words = new Int32Array(shm.buffer);
const lock = Semaphore.open(`${prefix}-lock`);
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

// Start together: each worker checks in on word 1 and waits for the other, so
// that the two loops really overlap even when one process starts late.
Atomics.add(words, 1, 1);
while (Atomics.load(words, 1) < 2) sleepSync(1);

for (let i = 0; i < 100; i++) {
  if (mode === 'locked') lock.waitSync(); // P(): value 1 -> 0, or sleep until it is 1
  const value = words[0]; // --- critical section ---
  sleepSync(1); // think a little: the other process runs meanwhile
  words[0] = value + 1; // --- end of critical section ---
  if (mode === 'locked') lock.post(); // V(): value 0 -> 1, waking one sleeper
}
console.log(`[worker ${process.pid}] ${mode}: did 100 increments`);
lock.close();
shm.close();
