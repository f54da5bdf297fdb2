// Lab 8: a lock-free single-producer/single-consumer ring in shared memory,
// and a robust mutex whose owner gets killed.
//   node labs/08-ring-buffer/main.mjs
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Mutex, RingBuffer, SharedMemory } from 'shmkit';

const log = (...args) => console.log(`[consumer ${process.pid}]`, ...args);
const script = (file) => fileURLToPath(new URL(file, import.meta.url));
const ringName = `/lab08-${process.pid}-ring`;
const mutexName = `/lab08-${process.pid}-mutex`;
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

// --- part 1: the ring -------------------------------------------------------
// 64 bytes of data area (the minimum), so it fills and wraps after 2 messages.
const ring = RingBuffer.create(ringName, { capacityBytes: 64 });
// A second, read-only mapping of the same object, only to peek at the header
// (docs/ring-format.md): tail (u32 at byte 64, bytes ever pushed, written by
// the producer) and head (u32 at byte 128, bytes ever popped, written by us).
const peek = SharedMemory.open(ringName, { readOnly: true });
const header = new Uint32Array(peek.buffer, 0, 128);
const head = () => Atomics.load(header, 128 / 4);
const tail = () => Atomics.load(header, 64 / 4);
const frameBytes = (length) => (8 + length + 7) & ~7; // 8-byte frame header, padded to 8

try {
  log(`ring ${ringName}: ${ring.capacityBytes} bytes of data; head=${head()} tail=${tail()}`);
  const producer = fork(script('./producer.mjs'), [ringName]);
  const received = [];
  for (let i = 0; i < 8; i++) {
    sleepSync(50); // a slow consumer, so the producer fills the ring and waits
    const before = head();
    const message = ring.popSync({ timeoutMs: 5000 });
    const text = new TextDecoder().decode(message);
    received.push(text);
    const moved = head() - before;
    const skipped = moved - frameBytes(message.length);
    const note = skipped > 0 ? `, stepped over a ${skipped}-byte wrap marker first` : '';
    log(`pop ${JSON.stringify(text)}: head ${before} -> ${head()} (offset ${head() % 64}${note}); tail=${tail()}`);
  }
  await once(producer, 'exit');
  log(`received in order: ${received.join(' ')}`);
  const stats = ring.stats();
  log(
    `stats: pushed ${stats.pushedMessages}, popped ${stats.poppedMessages}, producer parked ${stats.producerParks} time(s)`,
  );
} finally {
  peek.close();
  ring.close();
  RingBuffer.unlink(ringName);
}

// --- part 2: a robust mutex -------------------------------------------------
console.log(`[parent ${process.pid}] --- a lock holder gets killed ---`);
const plog = (...args) => console.log(`[parent ${process.pid}]`, ...args);
const mutex = Mutex.create(mutexName); // a 128-byte shm object; the lock word holds the owner's pid
try {
  const holder = fork(script('./holder.mjs'), [mutexName]);
  await once(holder, 'message'); // it holds the lock now
  plog(
    `tryLock() while child ${holder.pid} holds it: ${mutex.tryLock() === undefined ? 'undefined (busy)' : 'got it?!'}`,
  );
  holder.kill('SIGKILL'); // no unlock, no cleanup, no last words
  await once(holder, 'exit');
  plog(`killed ${holder.pid} with SIGKILL while it held the lock`);
  const guard = mutex.lockSync({ timeoutMs: 2000 });
  plog(`lockSync() returned: ownerDied = ${guard.ownerDied} (the lock word named a dead pid; we took it over)`);
  guard.unlock();
  const again = mutex.lockSync({ timeoutMs: 2000 });
  plog(`lockSync() again: ownerDied = ${again.ownerDied}`);
  again.unlock();
} finally {
  mutex.close();
  Mutex.unlink(mutexName);
  plog(`removed ${ringName} and ${mutexName}`);
}
