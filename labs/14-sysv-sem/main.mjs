// Lab 14: System V semaphore sets, semget(2)/semop(2)/semctl(2).
//   node labs/14-sysv-sem/main.mjs
//
// One semop applies several operations on a set atomically: all at once or
// none. And SEM_UNDO makes the kernel give back what a dead process held.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SysvSemaphoreSet } from 'shmkit';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
const PRINTER = 0;
const SCANNER = 1;

function start(args) {
  const child = fork(fileURLToPath(new URL('./worker.mjs', import.meta.url)), args.map(String));
  const exited = once(child, 'exit');
  const next = () => once(child, 'message').then(([message]) => message);
  return { child, exited, next };
}

// semget(IPC_PRIVATE, 2, 0600), then SETALL [1, 1]: one printer, one scanner.
const set = SysvSemaphoreSet.create(0, { count: 2, initial: 1 });
log(`created set id ${set.id}: printer ${set.get(PRINTER)}, scanner ${set.get(SCANNER)}`);
try {
  // 1. One resource at a time, in opposite orders: a deadlock.
  log('part 1: each worker takes one resource, then the other, in opposite orders');
  const a = start([set.id, 'one-by-one', 'A', PRINTER, SCANNER]);
  const b = start([set.id, 'one-by-one', 'B', SCANNER, PRINTER]);
  // Both hold their first resource before either asks for the second.
  await Promise.all([a.next(), b.next()]);
  a.child.send('go');
  b.child.send('go');
  await Promise.all([a.next(), b.next()]); // both tried, while both still held their first
  a.child.send('exit');
  b.child.send('exit');
  await Promise.all([a.exited, b.exited]); // SEM_UNDO gives back what each held
  log(`after the deadlock: printer ${set.get(PRINTER)}, scanner ${set.get(SCANNER)}`);

  // 2. Both resources in one semop: no deadlock, whatever the order.
  log('part 2: each worker takes both resources in one semop, 5 times');
  const c = start([set.id, 'atomic', 'C', PRINTER, SCANNER]);
  const d = start([set.id, 'atomic', 'D', SCANNER, PRINTER]);
  await Promise.all([c.exited, d.exited]);
  log(`both done, no deadlock: printer ${set.get(PRINTER)}, scanner ${set.get(SCANNER)}`);

  // 3. A holder killed: with SEM_UNDO the kernel gives the unit back, without it the unit is lost.
  log('part 3: a holder of the printer is killed (SIGKILL)');
  for (const undo of [true, false]) {
    const holder = start([set.id, 'hold', undo ? 'E' : 'F', PRINTER, PRINTER, undo]);
    await holder.next();
    log(`holder ${holder.child.pid} holds the printer (undo: ${undo}): printer ${set.get(PRINTER)}`);
    holder.child.kill('SIGKILL');
    await holder.exited;
    log(`killed it: printer ${set.get(PRINTER)}${undo ? ' (the kernel undid its semop)' : ' (lost for good)'}`);
  }
  log(`last operation on the printer by pid ${set.lastPid(PRINTER)}`);
} finally {
  set.remove(); // semctl(IPC_RMID): gone for everyone, waiters get EIDRM
  set.close();
  log('removed the set (IPC_RMID)');
}
