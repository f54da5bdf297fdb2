// Lab 8: takes the mutex, tells the parent, then waits to be killed.
import { Mutex } from 'shmkit';

const mutex = Mutex.open(process.argv[2]);
mutex.lockSync({ timeoutMs: 2000 });
console.log(`[child ${process.pid}] locked the mutex; now doing a long update...`);
process.send('locked');
setInterval(() => {}, 1000); // "working" until SIGKILL
