// A child process of `shmkit bench` (bench/harness.mjs): one end of one
// transport, driven by control messages ({ ctl }) over the IPC channel.
//   consumer  'ready' {info}; 'arm' {run, count} → 'armed', receives and verifies → 'result' {t0, t1, stats?}
//   producer  'ready'; 'go' {run, count} → sends → 'sent'
//   ping      'ready' {info}; 'go' {peer, runs, rounds, warm, warmMs, maxMs} → 'samples' {runs: [ns...], parked?}
//   echo      'ready' {info}; then echoes until killed (or `total` messages for blocking kinds)
//   idle      'ready'; blocks on an empty ring until the parent pushes `count` messages → 'result' {stats}
//   crowd-ping, crowd-echo  the --crowd round trips (bench/crowd-ping.mjs)
// Errors go back as {ctl: 'error', message, verification}.
import { Worker } from 'node:worker_threads';
import * as shmkit from 'shmkit';
import { die, listenForControl, nextControl, send, serveProducer } from './control.mjs';
import { crowdEchoRole, crowdPingRole } from './crowd-ping.mjs';
import { memcpyEndpoint } from './memcpy.mjs';
import { createSabRing, sabEndpoint } from './sab-ring.mjs';
import {
  byId,
  consumer,
  echoLoop,
  futexEcho,
  openReceiver,
  openSender,
  PING,
  PONG,
  pingLoop,
  producer,
  producerSync,
} from './transports.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const prim = byId.get(cfg.primitive);
listenForControl();

function sabRings(size, n) {
  const slots = Math.max(4, Math.min(1024, Math.floor((4 << 20) / size)));
  const rings = {};
  for (const ch of n) rings[ch] = createSabRing(size, slots);
  return rings;
}

async function consumerRole() {
  let receiver;
  let worker;
  if (prim.kind === 'worker') {
    const rings = sabRings(cfg.size, ['a']);
    worker = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { role: 'producer', size: cfg.size, rings },
    });
    worker.on('error', die);
    worker.unref();
    receiver = sabEndpoint(rings.a);
  } else if (prim.kind === 'memcpy') {
    receiver = memcpyEndpoint(prim, cfg.size, cfg.ringCapacity);
  } else {
    receiver = await openReceiver(shmkit, prim, cfg, 'a');
  }
  const consume = consumer(prim, cfg.size, receiver);
  await send({ ctl: 'ready', info: receiver.info });
  for (;;) {
    const message = await nextControl();
    if (message.ctl !== 'arm') break;
    let timing;
    if (receiver.recvSync) {
      await send({ ctl: 'armed', run: message.run });
      worker?.postMessage({ count: message.count });
      timing = consume(message.count);
    } else {
      const done = consume(message.count);
      await send({ ctl: 'armed', run: message.run });
      receiver.go?.(message.count); // a producer in this process (the obj-worker row's thread)
      timing = await done;
    }
    await send({ ctl: 'result', run: message.run, ...timing, stats: receiver.stats?.() });
  }
}

async function producerRole() {
  const sender = await openSender(shmkit, prim, cfg, 'a', cfg.peer);
  const produce = sender.sync ? producerSync(prim, cfg.size, sender) : producer(prim, cfg.size, sender);
  await serveProducer(produce);
}

// ------------------------------------------------------------ latency-only kinds

function nsSince(t0) {
  return Number(process.hrtime.bigint() - t0);
}

function semPing(_plan) {
  const a = shmkit.Semaphore.open(cfg.resources.a);
  const b = shmkit.Semaphore.open(cfg.resources.b);
  return (rounds, warm, maxMs) => {
    const out = [];
    const start = performance.now();
    for (let i = 0; i < warm + rounds; i++) {
      const t0 = process.hrtime.bigint();
      a.post();
      b.waitSync({ timeoutMs: 10_000 });
      if (i >= warm) out.push(nsSince(t0));
      if (i >= warm + 100 && performance.now() - start > maxMs) break;
    }
    return out;
  };
}

function futexWords() {
  return new Int32Array(shmkit.SharedMemory.open(cfg.resources.a).buffer);
}
let futexCounter = 0;

function futexPing() {
  const words = futexWords();
  const { futex } = shmkit;
  return (rounds, warm, maxMs) => {
    const out = [];
    const start = performance.now();
    for (let i = 0; i < warm + rounds; i++) {
      const value = ++futexCounter;
      const t0 = process.hrtime.bigint();
      Atomics.store(words, PING, value);
      futex.wake(words, PING, 1);
      while (Atomics.load(words, PONG) !== value) futex.waitSync(words, PONG, value - 1, { timeoutMs: 10_000 });
      if (i >= warm) out.push(nsSince(t0));
      if (i >= warm + 100 && performance.now() - start > maxMs) break;
    }
    return out;
  };
}

function signalsPing(peerPid) {
  let waiter;
  shmkit.signals.listen('SIGRTMIN+2', (info) => {
    const w = waiter;
    waiter = undefined;
    w?.(info.value);
  });
  return async (rounds, warm, maxMs) => {
    const out = [];
    const start = performance.now();
    for (let i = 0; i < warm + rounds; i++) {
      const t0 = process.hrtime.bigint();
      const back = new Promise((resolve) => {
        waiter = resolve;
      });
      shmkit.signals.send(peerPid, 'SIGRTMIN+1', { value: i });
      const value = await back;
      const ns = nsSince(t0);
      if (value !== i) {
        const error = new Error(`signal ${i} came back with value ${value}`);
        error.name = 'VerificationError';
        throw error;
      }
      if (i >= warm) out.push(ns);
      if (i >= warm + 100 && performance.now() - start > maxMs) break;
    }
    return out;
  };
}

async function pingRole() {
  let measure;
  let info;
  let receiver;
  let worker;
  let rings;
  if (prim.kind === 'worker') {
    rings = sabRings(64, ['a', 'b']);
  } else if (!prim.latencyOnly) {
    receiver = await openReceiver(shmkit, prim, cfg, 'b');
    info = receiver.info;
  }
  await send({ ctl: 'ready', info });
  const go = await nextControl();
  if (go.ctl !== 'go') return;
  if (prim.kind === 'sem') measure = semPing();
  else if (prim.kind === 'futex') measure = futexPing();
  else if (prim.kind === 'signals') measure = signalsPing(go.peer.pid);
  else if (prim.kind === 'worker') {
    worker = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { role: 'echo', size: cfg.size, rings: { a: rings.a, b: rings.b }, total: go.total },
    });
    worker.on('error', die);
    worker.unref();
    const sender = { sync: true, ...sabEndpoint(rings.a) };
    const back = sabEndpoint(rings.b);
    measure = (rounds, warm, maxMs) => pingLoop(prim, cfg.size, sender, back, rounds, warm, maxMs);
  } else {
    const sender = await openSender(shmkit, prim, cfg, 'a', go.peer);
    measure = (rounds, warm, maxMs) => pingLoop(prim, cfg.size, sender, receiver, rounds, warm, maxMs);
  }
  // warmMs (bench/harness.mjs): more warm-up rounds until that much time has passed.
  await measure(0, go.warm, go.maxMs);
  for (const t = performance.now(); performance.now() - t < (go.warmMs ?? 0); ) await measure(0, go.warm, go.maxMs);
  const runs = [];
  const parked = [];
  for (let run = 0; run < go.runs; run++) {
    const samples = await measure(go.rounds, 0, go.maxMs);
    runs.push(Array.from(samples));
    if (samples.parked) parked.push(Array.from(samples.parked));
  }
  await send({ ctl: 'samples', runs, parked: parked.length > 0 ? parked : undefined });
}

async function echoRole() {
  if (prim.kind === 'sem') {
    const a = shmkit.Semaphore.open(cfg.resources.a);
    const b = shmkit.Semaphore.open(cfg.resources.b);
    await send({ ctl: 'ready' });
    for (;;) {
      a.waitSync();
      b.post();
    }
  }
  if (prim.kind === 'futex') {
    const words = futexWords();
    const { futex } = shmkit;
    await send({ ctl: 'ready' });
    return futexEcho(futex, words, { checkOrder: false }); // blocks until killed (the pinger never sends -1)
  }
  if (prim.kind === 'signals') {
    shmkit.signals.listen('SIGRTMIN+1', (info) => {
      shmkit.signals.send(info.pid, 'SIGRTMIN+2', { value: info.value });
    });
    await send({ ctl: 'ready' });
    return new Promise(() => {}); // killed by the parent
  }
  const receiver = await openReceiver(shmkit, prim, cfg, 'a');
  const sender = await openSender(shmkit, prim, cfg, 'b', cfg.peer);
  await send({ ctl: 'ready', info: receiver.info });
  await echoLoop(receiver, sender, cfg.total ?? Number.POSITIVE_INFINITY);
  await send({ ctl: 'done' });
}

/** --idle (bench/idle.mjs): blocks on the empty ring at once, until the parent pushes `count` messages. */
async function idleRole() {
  const receiver = await openReceiver(shmkit, prim, cfg, 'a');
  const consume = consumer(prim, cfg.size, receiver);
  await send({ ctl: 'ready' });
  const timing = consume(cfg.count);
  await send({ ctl: 'result', ...timing, stats: receiver.stats() });
}

const roles = {
  consumer: consumerRole,
  producer: producerRole,
  ping: pingRole,
  echo: echoRole,
  idle: idleRole,
  'crowd-ping': () => crowdPingRole(shmkit, cfg),
  'crowd-echo': () => crowdEchoRole(shmkit, cfg),
};
const role = roles[cfg.role];
if (!prim) die(new Error(`unknown primitive ${cfg.primitive}`));
else if (!role) die(new Error(`unknown role ${cfg.role}`));
else role().then(() => process.disconnect?.(), die);
