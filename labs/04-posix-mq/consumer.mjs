// Lab 4 consumer: mq_receive always returns the oldest message of the highest priority.
import { PosixMessageQueue } from 'shmkit';

const log = (...args) => console.log(`[consumer ${process.pid}]`, ...args);
const queue = PosixMessageQueue.open(process.argv[2]);
log(`${queue.attributes().currentMessages} messages waiting`);
for (let message = queue.tryReceive(); message; message = queue.tryReceive()) {
  log(`mq_receive -> priority ${String(message.priority).padStart(2)}: ${message.data.toString()}`);
}
// Now the queue is empty: a receive would sleep until someone sends.
try {
  await queue.receive({ timeoutMs: 200 });
} catch (error) {
  log(`receive on the empty queue: ${error.code} after 200 ms (nobody sent anything)`);
}
queue.close();
