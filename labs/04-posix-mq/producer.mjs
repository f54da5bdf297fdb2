// Lab 4 producer: sends five jobs with different priorities, then exits.
import { PosixMessageQueue } from 'shmkit';

const log = (...args) => console.log(`[producer ${process.pid}]`, ...args);
const queue = PosixMessageQueue.open(process.argv[2]);
const jobs = [
  ['backup', 0],
  ['send newsletter', 0],
  ['resize images', 5],
  ['PAGER: disk full', 31],
  ['thumbnails', 5],
];
for (const [job, priority] of jobs) {
  queue.sendSync(job, { priority }); // the kernel inserts it in priority order
  log(`mq_send priority ${String(priority).padStart(2)}: ${job}`);
}
queue.close();
