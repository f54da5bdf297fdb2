// Lab 7: signals with siginfo: who sent it, what value it carried, and
// which signals the kernel queues and which it merges.
//   node labs/07-signals/main.mjs
import { fork } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { signals } from 'shmkit';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
const child = fork(fileURLToPath(new URL('./receiver.mjs', import.meta.url)));
const next = () => once(child, 'message').then(([message]) => message);
await next(); // the child is listening

log('--- part 1: one signal at a time ---');
signals.send(child.pid, 'SIGUSR1'); // kill(2): no value
await next();
signals.send(child.pid, 'SIGUSR1', { value: 7 }); // sigqueue(3): a standard signal can carry a value too
await next();

log('--- part 2: many signals while the child cannot take them ---');
child.send('count');
await next();
// SIGSTOP freezes the child; signals sent now stay pending in the kernel.
process.kill(child.pid, 'SIGSTOP');
const state = () => fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.[0];
while (state() !== 'T') await sleep(1); // wait until it really is stopped
log(`child ${child.pid} is stopped (state T in /proc/${child.pid}/stat)`);
for (let i = 0; i < 5; i++) signals.send(child.pid, 'SIGUSR1');
log('sent SIGUSR1 5 times');
for (let value = 1; value <= 100; value++) signals.send(child.pid, 'SIGRTMIN+1', { value });
log('sent SIGRTMIN+1 100 times with sigqueue values 1..100');
process.kill(child.pid, 'SIGCONT');
log('SIGCONT: the child runs again and the kernel delivers what is pending');
const [code] = await once(child, 'exit');
log(`child exited with code ${code}`);
