// Lab 4: a POSIX message queue, mq_open(3)/mq_send(3)/mq_receive(3), with priorities.
//   node labs/04-posix-mq/main.mjs
//
// Linux implements POSIX queues as files of the "mqueue" file system, mounted
// at /dev/mqueue: ls shows them, cat shows their state, rm removes them.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PosixMessageQueue } from 'shmkit';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
const name = `/lab04-${process.pid}-jobs`;
const file = `/dev/mqueue${name}`;

function showFile(when) {
  if (!fs.existsSync(file)) return log(`${when}: ${file} does not exist`);
  // Reading the file gives one line of kernel bookkeeping, not the messages.
  log(`${when}: cat ${file} -> ${fs.readFileSync(file, 'utf8').trim()}`);
}

async function run(script) {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [name]);
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
}

const queue = PosixMessageQueue.create(name, { maxMessages: 10, messageSize: 64 });
log(`mq_open(${name}, O_CREAT|O_EXCL): room for 10 messages of up to 64 bytes`);
try {
  showFile('empty');
  await run('./producer.mjs');
  showFile('after the producer exited');
  await run('./consumer.mjs');
  showFile('after the consumer');
} finally {
  queue.close();
  queue.unlink(); // mq_unlink(3) = removing the file from /dev/mqueue
}
showFile('after mq_unlink');
