import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortError, SEM_VALUE_MAX, Semaphore } from '../lib/index.js';
import {
  asleepSince,
  expectCloseRejectsWaits,
  nextMessage,
  runFixture,
  sleepersSince,
  sleepsElsewhere,
  threadsNow,
  track,
  uniqueName,
  untilAsleep,
  waitFor,
} from './helpers.js';

const create = (value = 0) => track(Semaphore.create(uniqueName('sem'), { value }), Semaphore);

describe('Semaphore', () => {
  it('lives in /dev/shm as sem.NAME; post, tryWait and value agree', () => {
    const sem = create(2);
    expect(fs.existsSync(`/dev/shm/sem.${sem.name.slice(1)}`)).toBe(true);
    expect(sem.value).toBe(2);
    expect(sem.tryWait()).toBe(true);
    expect(sem.tryWait()).toBe(true);
    expect(sem.tryWait()).toBe(false);
    sem.post();
    expect(sem.value).toBe(1);
    const other = Semaphore.open(sem.name);
    expect(other.created).toBe(false);
    expect(other.tryWait()).toBe(true);
    other.close();
    expect(sem.value).toBe(0);
  });

  it('openOrCreate creates once, then opens with the current value', () => {
    const name = uniqueName('sem');
    const first = track(Semaphore.openOrCreate(name, { value: 3 }), Semaphore);
    const second = Semaphore.openOrCreate(name, { value: 9 });
    expect([first.created, second.created, second.value]).toEqual([true, false, 3]);
    second.close();
  });

  it('fails with EEXIST and ENOENT', () => {
    const sem = create();
    expect(() => Semaphore.create(sem.name)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'sem_open' }));
    const missing = uniqueName('missing');
    expect(() => Semaphore.open(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_open' }));
    expect(() => Semaphore.unlink(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_unlink' }));
  });

  it('waitSync takes a unit, or throws ETIMEDOUT once timeoutMs has passed', () => {
    const sem = create(1);
    sem.waitSync({ timeoutMs: 1000 });
    const start = performance.now();
    expect(() => sem.waitSync({ timeoutMs: 30 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'sem_clockwait' }),
    );
    // A correctness bound, not a timing threshold: a timeout must not fire before timeoutMs (1 ms for clock rounding).
    expect(performance.now() - start).toBeGreaterThanOrEqual(29);
    expect(() => sem.waitSync({ timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
  });

  it('wait() resolves on post and rejects with ETIMEDOUT after timeoutMs', async () => {
    const sem = create();
    const before = threadsNow();
    const waiting = sem.wait({ timeoutMs: 5000 });
    await untilAsleep('shared-futex', 1, before);
    sem.post();
    await expect(waiting).resolves.toBeUndefined();
    const start = performance.now();
    await expect(sem.wait({ timeoutMs: 40 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    // A correctness bound, not a timing threshold: a timeout must not fire before timeoutMs (1 ms for clock rounding).
    expect(performance.now() - start).toBeGreaterThanOrEqual(39);
  });

  it('an AbortSignal cancels a pending wait, and the unit it would have taken is not lost', async () => {
    const sem = create();
    const controller = new AbortController();
    const before = threadsNow();
    const waiting = sem.wait({ signal: controller.signal });
    await untilAsleep('shared-futex', 1, before);
    controller.abort(new Error('changed my mind'));
    const error = await waiting.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AbortError);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: new Error('changed my mind') });
    sem.post();
    await expect(sem.wait({ timeoutMs: 2000 })).resolves.toBeUndefined();
    expect(sem.value).toBe(0);
    await expect(sem.wait({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('close() rejects pending waits, is safe twice, and forbids later use', async () => {
    const sem = create();
    await expectCloseRejectsWaits(sem, (options) => sem.wait(options));
    expect(() => sem.post()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
  });

  it('ping-pongs 10,000 rounds with another process', async () => {
    const ping = create();
    const pong = create();
    const rounds = 10_000;
    const { done } = runFixture('sem-pingpong.mjs', [ping.name, pong.name, String(rounds)]);
    for (let i = 0; i < rounds; i++) {
      ping.post();
      await pong.wait({ timeoutMs: 10_000 });
    }
    const result = await done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect([ping.value, pong.value]).toEqual([0, 0]);
  });

  it('16 pending waits hold neither the event loop nor the libuv threadpool', async () => {
    const sem = create();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    let settled = 0;
    const before = threadsNow();
    const waits = Array.from({ length: 16 }, () => sem.wait({ timeoutMs: 30_000 }).finally(() => settled++));
    await untilAsleep('shared-futex', 16, before);
    // libuv has 4 pool threads: if the waits held them, these reads would queue forever.
    const reads = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile(__filename, 'utf8')));
    expect(reads.every((text) => text.includes('libuv threadpool'))).toBe(true);
    await waitFor(() => ticks > 5, 'the event loop to tick while 16 waits are pending');
    clearInterval(timer);
    expect(settled).toBe(0);
    expect(ticks).toBeGreaterThan(5);
    for (let i = 0; i < 16; i++) sem.post();
    await Promise.all(waits);
    expect(sem.value).toBe(0);
  });

  it('a ref:false wait lets the process exit; a ref:true wait keeps it until posted', async () => {
    const sem = create();
    const unref = await runFixture('sem-wait-exit.mjs', [sem.name, 'false']).done;
    expect(unref.code).toBe(0);
    expect(unref.messages).toEqual([{ waiting: true }]);
    const { child, done } = runFixture('sem-wait-exit.mjs', [sem.name, 'true']);
    await nextMessage(child);
    await untilAsleep('shared-futex', 1, child.pid as number);
    // The thing under test: the child, with nothing but its wait, stays alive (100 ms here).
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(child.exitCode).toBeNull();
    sem.post();
    const result = await done;
    expect(result.messages).toEqual([{ waiting: true }, { woke: true }]);
  });
});

describe('Semaphore arguments', () => {
  const name = uniqueName('args');
  it.each([
    [() => Semaphore.create(name, { value: -1 }), RangeError, /"options.value"/],
    [() => Semaphore.create(name, { value: 0.5 }), RangeError, /"options.value"/],
    [() => Semaphore.create(name, { value: SEM_VALUE_MAX + 1 }), RangeError, /"options.value"/],
    [() => Semaphore.create(name, { mode: -1 }), RangeError, /"options.mode"/],
    [() => Semaphore.create(`/${'s'.repeat(252)}`), RangeError, /at most 251 bytes/],
    [() => Semaphore.open({} as unknown as string), TypeError, /"name" argument must be a string/],
  ])('rejects bad input %#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });

  it('rejects bad wait options before waiting', async () => {
    const sem = create(5);
    expect(() => sem.waitSync({ timeoutMs: -1 })).toThrow(RangeError);
    expect(() => sem.waitSync({ timeoutMs: 'soon' as unknown as number })).toThrow(TypeError);
    await expect(sem.wait({ timeoutMs: Number.NaN })).rejects.toThrow(RangeError);
    await expect(sem.wait({ signal: 'stop' as unknown as AbortSignal })).rejects.toThrow(/"options\.signal"/);
    await expect(sem.wait({ ref: 1 as unknown as boolean })).rejects.toThrow(/"options\.ref"/);
    expect(sem.value).toBe(5);
  });
});

describe('Semaphore waits and their end', () => {
  it('an abort that lands after the wait already took the unit hands the unit back', async () => {
    const sem = create();
    const controller = new AbortController();
    const waiting = sem.wait({ signal: controller.signal });
    sem.post();
    // Keep the loop busy (so the result cannot be delivered) until the waiter
    // thread has taken the unit: the value is back to 0.
    const deadline = Date.now() + 10_000;
    while (sem.value !== 0) {
      if (Date.now() > deadline) throw new Error('timed out after 10000 ms waiting for the waiter to take the unit');
    }
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    expect(sem.value).toBe(1); // handed back
    expect(sem.tryWait()).toBe(true);
  });

  it('a Worker terminated while it waits leaves no wait behind to steal a unit', async () => {
    const { Worker } = await import('node:worker_threads');
    const sem = create();
    const before = threadsNow();
    const worker = new Worker(
      `const { Semaphore } = require(${JSON.stringify(path.join(__dirname, '..'))});
       const { workerData, parentPort } = require('node:worker_threads');
       Semaphore.open(workerData).wait().catch(() => {});
       parentPort.postMessage('waiting');`,
      { eval: true, workerData: sem.name },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    await untilAsleep('shared-futex', 1, before); // terminated while it really waits
    const waiters = sleepersSince('shared-futex', before);
    await worker.terminate();
    // A wait left behind would still sleep on the semaphore (in 100 ms slices) and take the unit.
    await waitFor(
      () => asleepSince('shared-futex', before) === 0 && waiters.every((tid) => sleepsElsewhere(tid, 'shared-futex')),
      "the terminated Worker's wait to end",
    );
    sem.post();
    expect(sem.tryWait()).toBe(true);
  });
});
