// The --idle measurement of `shmkit bench`: what a consumer parked on an
// empty ring costs while nothing arrives. A child blocks in popIntoSync on an
// empty ring (default spin, then park on the futex); once the ring's header
// counts its park (and start-up work has settled), the parent reads the
// child's CPU time from /proc for one second, then pushes IDLE_MESSAGES messages, which the child receives and
// verifies like any transport's (so a lost wake-up or message fails the row).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import * as shmkit from 'shmkit';
import { clockTicks, cpuOf } from './cpu.mjs';
import { failure } from './message.mjs';
import { byId, LATENCY_RING_CAPACITY, producerSync } from './transports.mjs';

/** Messages pushed after the idle second; the first one wakes the consumer. */
export const IDLE_MESSAGES = 4;
const SIZE = 64;
const IDLE_MS = 1000;
/**
 * Between the park and the measurement: a fresh Node process's background threads (V8's
 * compiler and GC helpers) finish their start-up work in the first ~100 ms, which is not the
 * cost of being parked. The consumer is known to be parked already (the header counts it).
 */
const SETTLE_MS = 200;
/** The `idle` pseudo-primitive: a ring SPSC consumer (SHMKIT_BENCH_DROP=idle drops one of its messages). */
export const IDLE = { ...byId.get('ring'), id: 'idle', label: 'ring SPSC consumer parked in popIntoSync' };

/** Polls `condition()` every 5 ms; throws `what` after `timeoutMs`. */
async function until(condition, what, timeoutMs = 10_000) {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** The idle row. res: the harness's resources; startChild(res, cfg) forks bench/child.mjs. */
export async function idleCase(res, startChild) {
  const row = { primitive: IDLE.id, label: IDLE.label, size: SIZE, status: 'ok' };
  if (!shmkit.capabilities.futex || process.platform !== 'linux') {
    return { ...row, status: 'skipped', reason: 'needs futex(2) and /proc (Linux)' };
  }
  let child;
  try {
    const name = res.name();
    res.track(() => shmkit.SharedMemory.unlink(name));
    const ring = shmkit.RingBuffer.create(name, { capacityBytes: LATENCY_RING_CAPACITY });
    res.track(() => ring.close());
    child = startChild(res, {
      primitive: 'ring',
      role: 'idle',
      size: SIZE,
      count: IDLE_MESSAGES,
      resources: { a: name },
    });
    await child.expect('ready', 30_000);
    await until(() => ring.stats().consumerParks > 0, 'the consumer did not park');
    await sleep(SETTLE_MS);
    const parksBefore = ring.stats().consumerParks;
    const before = cpuOf(child.pid);
    const t0 = performance.now();
    await sleep(IDLE_MS); // the measurement window, not a wait for the other side
    const after = cpuOf(child.pid);
    const seconds = (performance.now() - t0) / 1000;
    const parksDuringIdle = ring.stats().consumerParks - parksBefore;
    producerSync(IDLE, SIZE, { send: (m) => ring.pushSync(m) })(IDLE_MESSAGES);
    const woke = await child.expect('result', 10_000);
    const hz = clockTicks();
    Object.assign(row, {
      parkedSeconds: seconds,
      clockTicksPerSecond: hz,
      cpuMsPerSecond: ((after.ticks - before.ticks) * (1000 / hz)) / seconds,
      schedstatMsPerSecond: (after.ns - before.ns) / 1e6 / seconds,
      consumerParksDuringIdle: parksDuringIdle,
      consumerParks: woke.stats.consumerParks,
      consumerWakes: woke.stats.consumerWakes,
      messages: IDLE_MESSAGES,
    });
  } catch (error) {
    Object.assign(row, failure(error));
  } finally {
    await child?.stop();
  }
  return row;
}
