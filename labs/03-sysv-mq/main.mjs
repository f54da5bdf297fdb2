// Lab 3: a System V message queue, msgget(2)/msgsnd(2)/msgrcv(2)/msgctl(2).
//   node labs/03-sysv-mq/main.mjs
//
// A SysV queue lives in the kernel, named by a numeric key, until someone
// removes it (IPC_RMID) or the machine reboots. Processes come and go.
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SysvMessageQueue } from 'shmkit';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
// A key unique to this run (real programs use ftok(path, id) or agree on a number).
const key = (0x1ab30000 | (process.pid & 0xffff)) >>> 0;
const hexKey = `0x${key.toString(16).padStart(8, '0')}`;

// `ipcs -q` lists every queue; show the header and our line, if any.
function ipcs(when) {
  const lines = execFileSync('ipcs', ['-q'], { encoding: 'utf8' }).split('\n');
  const header = lines.find((line) => line.startsWith('key'));
  const ours = lines.find((line) => line.startsWith(hexKey));
  log(`ipcs -q ${when}:`);
  console.log(`    ${header}`);
  console.log(`    ${ours ?? `(no queue with key ${hexKey})`}`);
}

async function run(script) {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [String(key)]);
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
}

ipcs('before');
const queue = SysvMessageQueue.create({ key }); // msgget(key, IPC_CREAT | IPC_EXCL | 0600)
log(`created queue key ${hexKey}, id ${queue.id}`);
try {
  await run('./producer.mjs');
  // The producer has exited, but its messages are still in kernel memory.
  const stat = queue.stat();
  log(`the producer exited; the queue still holds ${stat.messages} messages (${stat.bytes} bytes)`);
  log(`last msgsnd by pid ${stat.lastSendPid} (no longer running)`);
  ipcs('with messages waiting');
  await run('./consumer.mjs');
} finally {
  queue.remove(); // msgctl(IPC_RMID): the queue is gone for everyone, at once
  queue.close();
  log('removed the queue (IPC_RMID)');
}
ipcs('after');
