/**
 * Ownership that survives pid reuse: a lock word names its owner by pid, and
 * the owner record beside it (u64 at lock + 8: pid, start ticks) says which
 * process with that pid locked. We forge both, naming a live process that
 * never locked anything (a sleeping child), to stand for a dead owner whose
 * pid the kernel gave to a new process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processStartTicks } from '../lib/core/processes.js';
import { Mutex, RingBuffer, SharedMemory } from '../lib/index.js';
import { ownerRecord } from '../lib/structures/lock-word.js';
import { ringTools } from './c-tools.js';
import { requireOrSkip, track, uniqueName } from './helpers.js';

let sleeper: ChildProcess;
let sleeperPid: number;
let sleeperTicks: number;

beforeEach(() => {
  sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  sleeperPid = sleeper.pid as number;
  const ticks = processStartTicks(sleeperPid);
  if (ticks === undefined) throw new Error(`no start time for process ${sleeperPid} in /proc`);
  sleeperTicks = ticks;
});

afterEach(() => {
  sleeper.kill('SIGKILL');
});

/** The three records a forged lock word may carry. */
const records = {
  stale: () => ownerRecord(sleeperPid, sleeperTicks + 1), // the pid's earlier process: dead
  current: () => ownerRecord(sleeperPid, sleeperTicks), // the live process itself
  unknown: () => 0n, // a peer that writes no records
};

/** Writes a lock word naming the sleeper, and its record, at `lockOffset` of shm object `name`. */
function forge(name: string, lockOffset: number, record: bigint): void {
  const raw = SharedMemory.open(name);
  try {
    Atomics.store(new Int32Array(raw.buffer), lockOffset / 4, sleeperPid);
    Atomics.store(new BigUint64Array(raw.buffer, lockOffset + 8, 1), 0, record);
  } finally {
    raw.close();
  }
}

function recordAt(name: string, lockOffset: number): bigint {
  const raw = SharedMemory.open(name);
  try {
    return Atomics.load(new BigUint64Array(raw.buffer, lockOffset + 8, 1), 0);
  } finally {
    raw.close();
  }
}

describe('Mutex owner record', () => {
  const mutex = () => track(Mutex.create(uniqueName('owner')), Mutex);

  it('records its owner (pid and start ticks) while held, and clears the record on unlock', () => {
    const m = mutex();
    const guard = m.lockSync();
    expect(recordAt(m.name, 64)).toBe(ownerRecord(process.pid, processStartTicks(process.pid)));
    guard.unlock();
    expect(recordAt(m.name, 64)).toBe(0n);
  });

  it('takes over, with ownerDied, a lock whose record shows its pid now names another process', async () => {
    const m = mutex();
    forge(m.name, 64, records.stale());
    const guard = m.lockSync({ timeoutMs: 5000 });
    expect(guard.ownerDied).toBe(true);
    expect(recordAt(m.name, 64)).toBe(ownerRecord(process.pid, processStartTicks(process.pid)));
    guard.unlock();
    forge(m.name, 64, records.stale());
    const later = await m.lock({ timeoutMs: 5000 });
    expect(later.ownerDied).toBe(true);
    later.unlock();
    forge(m.name, 64, records.stale());
    expect(m.tryLock()?.ownerDied).toBe(true);
    m.unlock();
  });

  it.each(['current', 'unknown'] as const)(
    'treats the lock as held when the record is %s (ETIMEDOUT)',
    async (kind) => {
      const m = mutex();
      forge(m.name, 64, records[kind]());
      expect(m.tryLock()).toBeUndefined();
      expect(() => m.lockSync({ timeoutMs: 60 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
      await expect(m.lock({ timeoutMs: 60 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    },
  );

  it('treats the lock as held when the record names another pid than the lock word', () => {
    const m = mutex();
    forge(m.name, 64, ownerRecord(sleeperPid + 1, 12345)); // left by someone else: says nothing
    expect(() => m.lockSync({ timeoutMs: 60 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
  });

  it('recovers from a dead pid whatever the record says (the pid-only rule still holds)', async () => {
    const m = mutex();
    sleeper.kill('SIGKILL');
    await new Promise((resolve) => sleeper.once('exit', resolve)); // reaped: the pid is free
    forge(m.name, 64, 0n);
    expect(m.lockSync({ timeoutMs: 5000 }).ownerDied).toBe(true);
    m.unlock();
  });
});

describe('RingBuffer side lock owner record', () => {
  const ring = () =>
    track(
      RingBuffer.create(uniqueName('owner'), { capacityBytes: 4096, producers: 'multi', consumers: 'multi' }),
      RingBuffer,
    );
  const PRODUCER_LOCK = 192;
  const CONSUMER_LOCK = 256;

  it('takes over a producer lock with a stale record and counts the recovery', async () => {
    const r = ring();
    forge(r.name, PRODUCER_LOCK, records.stale());
    expect(r.tryPush(Uint8Array.of(1))).toBe(true);
    expect(r.stats().lockRecoveries).toBe(1);
    expect(recordAt(r.name, PRODUCER_LOCK)).toBe(0n); // released after the push
    forge(r.name, CONSUMER_LOCK, records.stale());
    expect(await r.pop({ timeoutMs: 5000 })).toEqual(Uint8Array.of(1));
    expect(r.stats().lockRecoveries).toBe(2);
  });

  it.each(['current', 'unknown'] as const)('waits out a producer lock whose record is %s (ETIMEDOUT)', async (kind) => {
    const r = ring();
    forge(r.name, PRODUCER_LOCK, records[kind]());
    expect(r.tryPush(Uint8Array.of(1))).toBe(false);
    expect(() => r.pushSync(Uint8Array.of(1), { timeoutMs: 60 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT' }),
    );
    await expect(r.push(Uint8Array.of(1), { timeoutMs: 60 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(r.stats().lockRecoveries).toBe(0);
  });
});

describe('C peers (ring.h) read the same owner record', () => {
  let tools: { paths?: Record<string, string>; why?: string } = {};
  let producer = 'ring_producer';
  beforeAll(async () => {
    tools = await ringTools();
    producer = tools.paths?.ring_producer ?? producer;
  });
  beforeEach((ctx) => requireOrSkip(ctx, tools.paths !== undefined, `the C ring tools (${tools.why})`));

  /** Runs ring_producer pushing one 8-byte message into `name`; resolves with its exit code and stderr. */
  function producePush(name: string, timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(producer, [name, '1', '8', '--timeout', String(timeoutMs)]);
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  const ring = () =>
    track(RingBuffer.create(uniqueName('owner-c'), { capacityBytes: 4096, producers: 'multi' }), RingBuffer);

  it('a C producer takes over a producer lock whose record is stale, and clears the record', async () => {
    const r = ring();
    forge(r.name, 192, records.stale());
    const result = await producePush(r.name, 5000);
    expect(result).toMatchObject({ code: 0 });
    expect(r.stats().lockRecoveries).toBe(1);
    expect(recordAt(r.name, 192)).toBe(0n);
    expect(r.tryPop()?.byteLength).toBe(8);
  });

  it('a C producer waits out a producer lock whose record names the live process', async () => {
    const r = ring();
    forge(r.name, 192, records.current());
    const result = await producePush(r.name, 100);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/timed out/i);
    expect(r.stats().lockRecoveries).toBe(0);
    expect(r.tryPop()).toBeUndefined();
  });
});
