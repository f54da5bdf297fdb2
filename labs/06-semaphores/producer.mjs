// Lab 6 part 2 producer: puts 12 items into a 4-slot ring in shared memory.
import { Semaphore, SharedMemory } from 'shmkit';

const prefix = process.argv[2];
const log = (...args) => console.log(`[producer ${process.pid}]`, ...args);
const shm = SharedMemory.open(`${prefix}-data`);
const slots = new Int32Array(shm.buffer, 64, 4);
const empty = Semaphore.open(`${prefix}-empty`);
const full = Semaphore.open(`${prefix}-full`);
let told = false;

for (let item = 1; item <= 12; item++) {
  if (!empty.tryWait()) {
    log(`item ${item}: no empty slot (empty = 0), sleeping in sem_wait(empty)`);
    if (!told) process.send('blocked'); // only so the parent can start the consumer now
    told = true;
    empty.waitSync({ timeoutMs: 5000 }); // the consumer's sem_post(empty) wakes us
  }
  const slot = (item - 1) % 4;
  slots[slot] = item;
  full.post(); // one more full slot: wakes the consumer if it sleeps
  log(`put item ${item} in slot ${slot} (full = ${full.value})`);
}
empty.close();
full.close();
shm.close();
process.disconnect();
