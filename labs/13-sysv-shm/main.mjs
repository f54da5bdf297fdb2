// Lab 13: System V shared memory, shmget(2)/shmat(2)/shmdt(2)/shmctl(2).
//   node labs/13-sysv-shm/main.mjs
//
// A System V segment is found by a numeric key, used through its id, and
// counted: nattch is how many attachments exist, in every process. It lives
// until removed (IPC_RMID), and once removed, until its last detach.
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SysvSharedMemory } from 'shmkit';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
// A key unique to this run (real programs use ftok(path, id) or agree on a number).
const key = (0x1abd0000 | (process.pid & 0xffff)) >>> 0;
const hexKey = `0x${key.toString(16).padStart(8, '0')}`;

// `ipcs -m` lists every segment; show the header and our line (by id once known), if any.
function ipcs(when, id) {
  const lines = execFileSync('ipcs', ['-m'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }).split('\n');
  const header = lines.find((line) => line.startsWith('key'));
  const ours = lines.find((line) => (id === undefined ? line.startsWith(hexKey) : line.split(/\s+/)[1] === String(id)));
  log(`ipcs -m ${when}:`);
  console.log(`    ${header}`);
  console.log(`    ${ours ?? `(no segment with ${id === undefined ? `key ${hexKey}` : `id ${id}`})`}`);
}

function start(script, args) {
  return fork(fileURLToPath(new URL(script, import.meta.url)), args.map(String));
}

async function finished(child, name) {
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${name} exited with ${code}`);
}

ipcs('before');
// shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600): a zero-filled segment, attached by nobody yet.
const shm = SysvSharedMemory.create(key, { size: 4096 });
log(`created segment key ${hexKey}, id ${shm.id}: nattch ${shm.stat().nattch}`);
let holder;
try {
  // 1. A writer attaches, writes, detaches and exits. The segment stays.
  await finished(start('./writer.mjs', [key]), 'writer');
  const afterWriter = shm.stat();
  log(`the writer exited; nattch ${afterWriter.nattch}, last shmat/shmdt by pid ${afterWriter.lpid}`);
  const bytes = new Uint8Array(shm.attach()); // shmat: our own attachment
  log(`attached: read ${JSON.stringify(Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString())}`);

  // 2. A second process attaches by key: two attachments.
  holder = start('./holder.mjs', [key]);
  const [ready] = await once(holder, 'message');
  log(`the holder attached id ${ready.id}: nattch ${shm.stat().nattch}`);
  ipcs('with two attachments', shm.id);

  // 3. Remove while attached: the key goes at once, the memory stays for those attached.
  shm.remove();
  const removed = shm.stat();
  log(
    `removed (IPC_RMID): removed ${removed.removed}, key now 0x${removed.key.toString(16).padStart(8, '0')}, nattch ${removed.nattch}`,
  );
  ipcs('after remove, still attached', shm.id);
  try {
    SysvSharedMemory.open(key);
  } catch (error) {
    log(`open(${hexKey}) -> ${error.code}: nobody new can find it`);
  }
  holder.send('write');
  await once(holder, 'message');
  log(`still shared: read ${JSON.stringify(Buffer.from(bytes.subarray(64, bytes.indexOf(0, 64))).toString())}`);

  // 4. The last detach destroys it.
  holder.send('detach');
  await finished(holder, 'holder');
  log(`the holder detached and exited: nattch ${shm.stat().nattch}`);
  shm.detach(); // shmdt: the last attachment
  log('detached: that was the last attachment');
  ipcs('after the last detach', shm.id);
} finally {
  if (holder && holder.exitCode === null) holder.kill();
  try {
    shm.remove(); // in case the lab stopped early
  } catch {}
  shm.close();
}
