// Lab 3 producer: sends messages of three types and exits.
import { SysvMessageQueue } from 'shmkit';

const log = (...args) => console.log(`[producer ${process.pid}]`, ...args);
const queue = SysvMessageQueue.open({ key: Number(process.argv[2]) });

// The type is a positive long the kernel stores with each message.
// Here: 1 = info, 2 = warning, 3 = error.
const messages = [
  [1, 'info: started'],
  [2, 'warning: disk 80% full'],
  [1, 'info: 10 jobs done'],
  [3, 'error: job 11 failed'],
  [2, 'warning: disk 90% full'],
  [1, 'info: stopping'],
];
for (const [type, text] of messages) {
  queue.sendSync(text, { type }); // msgsnd copies the bytes into the kernel
  log(`msgsnd type ${type}: ${JSON.stringify(text)}`);
}
queue.close(); // only forgets our handle; the queue and its messages stay
log('exiting');
