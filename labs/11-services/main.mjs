// Lab 11: request/response between processes — a Service, clients in other
// processes, a client killed in the middle of its calls, and a drain.
//   node labs/11-services/main.mjs
import { fork } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Service } from 'shmkit';

const log = (...args) => console.log(`[server ${process.pid}]`, ...args);
const name = `/lab11-${process.pid}-calc`;
const clientScript = fileURLToPath(new URL('./client.mjs', import.meta.url));
const shm = () =>
  fs
    .readdirSync('/dev/shm')
    .filter((entry) => entry.startsWith(name.slice(1)))
    .sort();

/** Resolves once `condition` holds (checked on every turn of the event loop). */
async function until(condition) {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

// 1. A service with two methods: a quick one and a slow one that notices cancellation.
const service = Service.create(name, { maxClients: 4 });
service.handle('add', ({ a, b }) => a + b);
service.handle('slow', (ms, ctx) => {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(`slept ${ms} ms`), ms);
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('cancelled'));
    });
  });
});
service.on('connection', (conn) => log(`connection ${conn.id} from pid ${conn.pid}`));
service.on('disconnect', (conn, reason) => log(`disconnect ${conn.id}: ${reason}`));
await service.listen();
log(`listening as ${name}; in /dev/shm: ${shm().join(', ')}`);

// 2. A client process makes calls; each connection is two rings named after the service.
const calls = fork(clientScript, ['calls', name]);
await once(calls, 'exit');
log(`after a client that closed: ${shm().join(', ')}`);

// 3. A client killed with calls in flight: the server learns of its death
//    (pidfd_open(2)), aborts its handlers, removes its rings, frees its slot.
const victim = fork(clientScript, ['hang', name]);
await once(victim, 'message'); // it has made its 3 slow calls
await until(() => service.stats().inFlight === 3); // and the server has them
log(`in flight: ${service.stats().inFlight}; in /dev/shm: ${shm().join(', ')}`);
log(`killing client ${victim.pid} with SIGKILL`);
const died = once(service, 'disconnect');
victim.kill('SIGKILL');
await died;
log(`in flight after its death: ${service.stats().inFlight}; in /dev/shm: ${shm().join(', ')}`);

// 4. A drain: calls in flight finish, new ones are refused, then everything is removed.
const last = fork(clientScript, ['drain', name]);
await once(last, 'message'); // it has made its slow call
await until(() => service.stats().inFlight === 1);
log('closing with a drain (calls in flight may finish, new ones are refused)');
const lastExited = once(last, 'exit'); // before the close: the client may exit while it drains
await service.close({ drainTimeoutMs: 5000 });
await lastExited;
const { callsStarted, callsCompleted, callsFailed, callsCancelled } = service.stats();
log(`calls started ${callsStarted}, completed ${callsCompleted}, failed ${callsFailed}, cancelled ${callsCancelled}`);
log(`left in /dev/shm: ${shm().length === 0 ? '(nothing)' : shm().join(', ')}`);
