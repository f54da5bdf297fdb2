// Lab 10 child: creates one object of each kind, then "crashes" (the parent SIGKILLs it).
import { PosixMessageQueue, RingBuffer, Semaphore, SharedMemory, SysvMessageQueue } from 'shmkit';

const [prefix, key] = process.argv.slice(2);
const log = (...args) => console.log(`[child ${process.pid}]`, ...args);

SharedMemory.create(`/${prefix}state`, { size: 4096 });
Semaphore.create(`/${prefix}lock`, { value: 1 });
RingBuffer.create(`/${prefix}ring`, { capacityBytes: 4096 });
PosixMessageQueue.create(`/${prefix}jobs`, { maxMessages: 4, messageSize: 64 });
const queue = SysvMessageQueue.create({ key: Number(key) });
queue.sendSync('hello'); // one message in and out, so ipcs records our pid
queue.receiveSync();
log(
  `created /${prefix}state, sem.${prefix}lock, /${prefix}ring, mqueue /${prefix}jobs, SysV key 0x${Number(key).toString(16)}`,
);
process.send('ready');
setInterval(() => {}, 1000); // busy "working" until killed
