/**
 * Bounded waiter threads: async futex waits share threads of 127 words each
 * (futex_waitv), POSIX message queue waits share one poll thread, and the
 * waits that need a thread each (System V, semaphores, or futex waits without
 * futex_waitv) come from a bounded pool.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { AbortError, futex, PosixMessageQueue, Semaphore, SharedMemory } from '../lib/index.js';
import { runFixture, seededRandom, threadsNow, track, uniqueName, untilAsleep } from './helpers.js';

const WORDS_PER_THREAD = 127;

describe('futex waiter threads', () => {
  it('10,000 pending waits on distinct words use at most 1 + ceil(10,000/127) threads, and each ends on its own wake', async () => {
    const count = 10_000;
    const name = uniqueName('waiters');
    track(SharedMemory.create(name, { size: (count + 2) * 4 }), SharedMemory);
    const { seed } = seededRandom();
    const result = await runFixture('waiters-many.mjs', [name, String(seed), String(count)]).done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = result.messages[0] as Record<string, unknown>;
    expect(report.problems).toEqual([]);
    expect(report.added).toBeGreaterThan(0);
    expect(report.added).toBeLessThanOrEqual(1 + Math.ceil((count + 2) / WORDS_PER_THREAD));
    expect(report.timedResult).toBe('timed-out');
    expect(report.abortedResult).toBe('AbortError');
    expect(report.bare).toBe(count / 4);
    expect(report.ok).toBe(count / 2);
    expect(report.closed).toBe(count / 2);
  }, 120_000);
});

describe('several waits of one process on one word', () => {
  // Beyond the first two, such waits may share one kernel sleep: a wake of
  // it ends all of them (a spurious 'ok' for some, as futex semantics allow),
  // so none is ever left asleep by a wake meant for it.
  it('all end when the word changes and is woken', async () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const waits = Array.from({ length: 8 }, () => futex.wait(words, 1, 0));
    Atomics.store(words, 1, 1);
    futex.wake(words, 1);
    expect(await Promise.all(waits)).toEqual(Array(8).fill('ok'));
  });

  it('bare wakes of one end them all, none left behind', async () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    let ended = 0;
    const waits = Array.from({ length: 8 }, () =>
      futex.wait(words, 1, 0).then((result) => {
        ended++;
        return result;
      }),
    );
    while (ended < waits.length) {
      futex.wake(words, 1, 1);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(waits)).toEqual(Array(8).fill('ok'));
  });
});

describe('a cancelled futex wait', () => {
  it('hands a wake-up it already took on to the next sleeper', async () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const controller = new AbortController();
    let before = threadsNow();
    const first = futex.wait(words, 0, 0, { signal: controller.signal });
    await untilAsleep('shared-futex', 1, before);
    before = threadsNow();
    const second = futex.wait(words, 0, 0);
    await untilAsleep('shared-futex', 1, before);
    // One wake, the word left as it is, and at once (before its result can
    // reach JS) the wait that was asleep first is cancelled: whichever of the
    // two the kernel woke, the wake must end up ending `second`.
    expect(futex.wake(words, 0, 1)).toBe(1);
    controller.abort();
    await expect(first).rejects.toBeInstanceOf(AbortError);
    expect(await second).toBe('ok');
  });
});

describe('futex waiter threads and Workers', () => {
  it("a terminated Worker's pending waits leave the shared threads, and this thread's waits beside them still end", async () => {
    const half = 300; // more than one thread's 127 words, so threads serve both environments
    const words = new Int32Array(new SharedArrayBuffer(2 * half * 4));
    const mine = Array.from({ length: half }, (_, i) => futex.wait(words, half + i, 0));
    const worker = new Worker(
      `const { futex } = require(${JSON.stringify(path.join(__dirname, '..'))});
       const { workerData, parentPort } = require('node:worker_threads');
       for (let i = 0; i < ${half}; i++) futex.wait(workerData, i, 0);
       parentPort.postMessage('started');`,
      { eval: true, workerData: words },
    );
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    // Teardown cancelled them and waited until they left their threads:
    // none of the Worker's words has a sleeper any more.
    for (let i = 0; i < half; i++) expect(futex.wake(words, i, 1)).toBe(0);
    for (let i = 0; i < half; i++) {
      Atomics.store(words, half + i, 1);
      futex.wake(words, half + i, 1);
    }
    expect(await Promise.all(mine)).toEqual(Array(half).fill('ok'));
  });
});

describe('the blocking-waiter pool', () => {
  const MAX = 3;
  const run = async (mode: 'semaphore' | 'futex') => {
    const shmName = uniqueName('waiters');
    track(SharedMemory.create(shmName, { size: 64 }), SharedMemory);
    const semName = uniqueName('waiters');
    track(Semaphore.create(semName, { value: 0 }), Semaphore);
    const env: NodeJS.ProcessEnv = { ...process.env, SHMKIT_MAX_BLOCKING_WAITERS: String(MAX) };
    if (mode === 'futex') env.SHMKIT_NO_FUTEX_WAITV = '1';
    const result = await runFixture('waiters-cap.mjs', [shmName, semName, mode], { env }).done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.messages[0] as Record<string, unknown>;
  };

  it('refuses a wait beyond SHMKIT_MAX_BLOCKING_WAITERS with ERR_SHMKIT_TOO_MANY_WAITS, and takes one again when a wait ends', async () => {
    const report = await run('semaphore');
    expect(report.added).toBeGreaterThan(0);
    expect(report.added).toBeLessThanOrEqual(MAX);
    expect(report.fourth).toBe('ERR_SHMKIT_TOO_MANY_WAITS');
    expect(report.fourthMessage).toMatch(/at most 3 \(SHMKIT_MAX_BLOCKING_WAITERS\)/);
    expect(report.first).toBe('ok');
    expect(report.signal).toBe('SIGUSR2');
    // A futex wait shares a futex waiter thread: the full pool does not refuse it.
    expect(report.futexBeside).toBe('ok');
    expect([...(report.rest as string[])].sort()).toEqual([
      'ERR_SHMKIT_CLOSED',
      'ERR_SHMKIT_CLOSED',
      'ERR_SHMKIT_CLOSED',
      'ok',
    ]);
  }, 60_000);

  it('bounds futex waits the same way where futex_waitv is missing (one thread each, from the pool)', async () => {
    const report = await run('futex');
    expect(report.added).toBeGreaterThan(0);
    expect(report.added).toBeLessThanOrEqual(MAX);
    expect(report.fourth).toBe('ERR_SHMKIT_TOO_MANY_WAITS');
    expect(report.first).toBe('ok');
    expect(report.rest).toEqual(['ok', 'ERR_SHMKIT_CLOSED', 'ERR_SHMKIT_CLOSED', 'ERR_SHMKIT_CLOSED']);
  }, 60_000);
});

describe('POSIX message queue waits', () => {
  it('share one poll thread: 64 pending receives take no blocking-pool slot, and each gets one message', async () => {
    const perQueue = 16;
    const names = Array.from({ length: 4 }, () => {
      const queue = track(
        PosixMessageQueue.create(uniqueName('waiters-mq'), { maxMessages: 4, messageSize: 64 }),
        PosixMessageQueue,
      );
      return queue.name;
    });
    const env: NodeJS.ProcessEnv = { ...process.env, SHMKIT_MAX_BLOCKING_WAITERS: '2' };
    const result = await runFixture('waiters-mq.mjs', [String(perQueue), ...names], { env }).done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = result.messages[0] as Record<string, unknown>;
    expect(report.added).toBe(1);
    expect(report.timed).toBe('ETIMEDOUT');
    expect(report.aborted).toBe('AbortError');
    expect(report.received).toBe(4 * perQueue);
    expect(report.lost).toEqual([]);
    expect(report.duplicated).toBe(0);
  }, 60_000);
});
