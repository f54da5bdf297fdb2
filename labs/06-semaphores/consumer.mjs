// Lab 6 part 2 consumer: takes 12 items, slowly.
import { Semaphore, SharedMemory } from 'shmkit';

const prefix = process.argv[2];
const log = (...args) => console.log(`[consumer ${process.pid}]`, ...args);
const shm = SharedMemory.open(`${prefix}-data`);
const slots = new Int32Array(shm.buffer, 64, 4);
const empty = Semaphore.open(`${prefix}-empty`);
const full = Semaphore.open(`${prefix}-full`);
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const taken = [];

for (let i = 0; i < 12; i++) {
  full.waitSync({ timeoutMs: 5000 }); // sleeps while full = 0
  const slot = i % 4;
  const item = slots[slot]; // copy it out before we hand the slot back
  taken.push(item);
  empty.post(); // one more empty slot: wakes the producer if it sleeps
  log(`took item ${item} from slot ${slot}`);
  sleepSync(20); // a slow consumer
}
log(`received items ${taken.join(',')}`);
empty.close();
full.close();
shm.close();
