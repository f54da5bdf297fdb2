// Lab 6: POSIX named semaphores, sem_open(3)/sem_wait(3)/sem_post(3).
//   node labs/06-semaphores/main.mjs
//
// Part 1: a semaphore with value 1 as a lock around a critical section.
// Part 2: the bounded buffer: two semaphores count empty and full slots.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Semaphore, SharedMemory } from 'shmkit';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
const prefix = `/lab06-${process.pid}`;
const script = (file) => fileURLToPath(new URL(file, import.meta.url));
const exited = (child) =>
  once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`child ${child.pid} exited with ${code}`);
  });

const shm = SharedMemory.create(`${prefix}-data`, { size: 4096 });
const words = new Int32Array(shm.buffer);
// A named semaphore is a small file /dev/shm/sem.NAME holding a futex word:
// sem_wait sleeps in futex(2) only when the value is 0.
const lock = Semaphore.create(`${prefix}-lock`, { value: 1 });
const empty = Semaphore.create(`${prefix}-empty`, { value: 4 }); // 4 free slots
const full = Semaphore.create(`${prefix}-full`, { value: 0 }); // 0 filled slots
try {
  log('--- part 1: critical section ---');
  for (const mode of ['unlocked', 'locked']) {
    words[0] = 0; // the counter
    words[1] = 0; // the workers' start line
    const children = [1, 2].map(() => fork(script('./worker.mjs'), [prefix, mode]));
    await Promise.all(children.map(exited));
    log(`${mode}: counter = ${words[0]} (expected 200)`);
  }

  log('--- part 2: bounded buffer, 4 slots, 12 items ---');
  const producer = fork(script('./producer.mjs'), [prefix]);
  // Start the consumer only once the producer has filled all 4 slots and is
  // asleep in sem_wait(empty): then the trace shows who wakes whom.
  await once(producer, 'message');
  log('the producer is blocked; starting the consumer');
  const consumer = fork(script('./consumer.mjs'), [prefix]);
  await Promise.all([exited(producer), exited(consumer)]);
  log(`final values: empty = ${empty.value}, full = ${full.value}`);
} finally {
  for (const sem of [lock, empty, full]) {
    sem.close();
    sem.unlink();
  }
  shm.close();
  shm.unlink();
  log(`removed ${prefix}-data and 3 semaphores`);
}
