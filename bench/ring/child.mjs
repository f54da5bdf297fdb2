// The child-process side of bench/ring: one role per process, driven by
// control messages ({ ctl }) from main.mjs over the IPC channel.
//   producer  ring / TypedQueue / unix socket: 'go' {count} → pushes, replies 'sent'
//   consumer  every transport: 'arm' {count} → replies 'armed', receives and verifies, replies 'result' {t0, t1}
//   ping/echo wake-up latency: 'go' → round trips, replies 'samples' (ping) / 'done' (echo)
//   idle      'park' → replies 'parking', then blocks in popSync on an empty ring until main pushes
import * as shmkit from 'shmkit';
import { die, listenForControl, nextControl, send, serveProducer, setDataHandler } from '../control.mjs';
import {
  futexEcho,
  futexPing,
  ipcConsumer,
  queueConsumer,
  queueProducer,
  ringConsumer,
  ringEcho,
  ringPing,
  ringProducer,
  TRANSPORTS,
  typedQueueSchema,
  unixConsumer,
  unixProducer,
} from './transports.mjs';

const { RingBuffer, SharedMemory, futex } = shmkit;
const cfg = JSON.parse(process.argv[2] ?? '{}');
const transport = TRANSPORTS.find((t) => t.id === cfg.transport);
listenForControl(() => die(new Error('unexpected data message')));

function openQueue() {
  if (typeof shmkit.TypedQueue !== 'function') throw new Error('TypedQueue is not exported by shmkit');
  return shmkit.TypedQueue.open(cfg.name, { schema: typedQueueSchema(cfg.size) });
}

function openRing(name) {
  return RingBuffer.open(name, cfg.spinUs === undefined ? undefined : { spinUs: cfg.spinUs });
}

async function producer() {
  let produce;
  if (transport.kind === 'ring') produce = ringProducer(openRing(cfg.name), transport.id, cfg.size);
  else if (transport.kind === 'typed-queue') produce = queueProducer(openQueue(), cfg.size);
  else if (transport.kind === 'unix') produce = (await unixProducer(cfg.path, cfg.size)).produce;
  else throw new Error(`no producer child for ${cfg.transport}`);
  await serveProducer(produce);
}

async function consumer() {
  let consumeSync; // blocks this thread: rings and queues
  let arm; // returns a Promise: sockets and process.send
  let stats;
  if (transport.kind === 'ring') {
    const ring = openRing(cfg.name);
    consumeSync = ringConsumer(ring, transport.id, cfg.size);
    stats = () => ring.stats();
  } else if (transport.kind === 'typed-queue') {
    const queue = openQueue();
    consumeSync = queueConsumer(queue, cfg.size);
    stats = () => queue.stats?.();
  } else if (transport.kind === 'unix') {
    arm = (await unixConsumer(cfg.path, cfg.size)).arm;
  } else if (transport.kind === 'ipc') {
    const ipc = ipcConsumer(transport.serialization, cfg.size);
    setDataHandler(ipc.feed);
    arm = ipc.arm;
  } else {
    throw new Error(`no consumer for ${cfg.transport}`);
  }
  await send({ ctl: 'ready' });
  for (;;) {
    const message = await nextControl();
    if (message.ctl !== 'arm') break;
    let timing;
    if (consumeSync) {
      await send({ ctl: 'armed', run: message.run });
      timing = consumeSync(message.count);
    } else {
      const done = arm(message.count);
      await send({ ctl: 'armed', run: message.run });
      timing = await done;
    }
    await send({ ctl: 'result', run: message.run, count: message.count, ...timing, stats: stats?.() });
  }
}

async function ping() {
  let measure;
  if (cfg.mode === 'futex') {
    const shm = SharedMemory.open(cfg.name);
    const words = new Int32Array(shm.buffer);
    measure = () => futexPing(futex, words, cfg.rounds, cfg.warm);
  } else {
    const out = openRing(cfg.names[0]);
    const back = openRing(cfg.names[1]);
    measure = () => ringPing(out, back, cfg.rounds, cfg.warm);
  }
  await send({ ctl: 'ready' });
  const message = await nextControl();
  if (message.ctl !== 'go') return;
  const samples = measure();
  await send({ ctl: 'samples', samples: Array.from(samples) });
}

async function echo() {
  let run;
  if (cfg.mode === 'futex') {
    const shm = SharedMemory.open(cfg.name);
    const words = new Int32Array(shm.buffer);
    run = () => futexEcho(futex, words);
  } else {
    const inbound = openRing(cfg.names[0]);
    const outbound = openRing(cfg.names[1]);
    run = () => ringEcho(inbound, outbound, cfg.rounds + cfg.warm);
  }
  await send({ ctl: 'ready' });
  run(); // starts blocking at once: main sends 'go' to the pinger only after 'ready' from both
  await send({ ctl: 'done' });
}

async function idle() {
  const ring = openRing(cfg.name);
  await send({ ctl: 'ready' });
  const message = await nextControl();
  if (message.ctl !== 'park') return;
  await send({ ctl: 'parking' });
  const woken = ring.popSync({ timeoutMs: 60_000 });
  await send({ ctl: 'woke', bytes: woken.length, stats: ring.stats() });
}

const roles = { producer, consumer, ping, echo, idle };
const role = roles[cfg.role];
if (!role) die(new Error(`unknown role ${cfg.role}`));
else if (cfg.transport !== undefined && !transport) die(new Error(`unknown transport ${cfg.transport}`));
else
  role().then(
    () => process.disconnect?.(),
    (error) => die(error),
  );
