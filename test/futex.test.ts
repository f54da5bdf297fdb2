import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { AbortError, futex, SharedMemory } from '../lib/index.js';
import { nextMessage, runFixture, threadsNow, track, uniqueName, untilAsleep } from './helpers.js';

const segment = (size = 4096) => track(SharedMemory.create(uniqueName('futex'), { size }), SharedMemory);

describe('futex', () => {
  it("says 'not-equal' when the word differs and 'timed-out' after timeoutMs", async () => {
    const words = new Int32Array(segment().buffer);
    words[3] = 5;
    expect(futex.waitSync(words, 3, 4)).toBe('not-equal');
    expect(await futex.wait(words, 3, 4)).toBe('not-equal');
    expect(futex.waitSync(words, 3, 5, { timeoutMs: 10 })).toBe('timed-out');
    expect(await futex.wait(words, 3, 5, { timeoutMs: 10 })).toBe('timed-out');
    expect(futex.wake(words, 3)).toBe(0);
  });

  it.each(['sync', 'async'])('wakes a %s waiter in another process', async (how) => {
    const shm = segment();
    const words = new Int32Array(shm.buffer);
    const { child, done } = runFixture('futex-waiter.mjs', [shm.name, how]);
    await nextMessage(child);
    // Asleep in the kernel first; then one wake, the word left as it is: only
    // the wake itself can end the child's wait with 'ok' (a broken wake ends
    // it with 'timed-out' after 20 s).
    await untilAsleep('shared-futex', 1, child.pid as number);
    expect(futex.wake(words, 0, 1)).toBe(1);
    const result = await done;
    expect(result.stderr).toBe('');
    expect(result.messages[1]).toMatchObject({ value: 0 });
    expect(['ok', 'not-equal']).toContain((result.messages[1] as { result: string }).result);
    expect(result.messages[1]).toMatchObject({ result: 'ok' });
  });

  it('async waits are woken by another process, count by count', async () => {
    const shm = segment();
    const words = new Int32Array(shm.buffer);
    const before = threadsNow();
    const waiting = [futex.wait(words, 0, 0), futex.wait(words, 0, 0)];
    // Both waits asleep in the kernel before the child wakes them.
    await untilAsleep('shared-futex', 2, before);
    const wakeFromChild = async (count: string) =>
      (await runFixture('futex-wake.mjs', [shm.name, '0', count]).done).messages[0];
    expect(await wakeFromChild('1')).toEqual({ woken: 1 });
    expect(await wakeFromChild('all')).toEqual({ woken: 1 });
    expect(await Promise.all(waiting)).toEqual(['ok', 'ok']);
    expect(await wakeFromChild('all')).toEqual({ woken: 0 });
  });

  it('ping-pongs 2,000 rounds with another process', async () => {
    const shm = segment();
    const words = new Int32Array(shm.buffer);
    const rounds = 2000;
    const { done } = runFixture('futex-pingpong.mjs', [shm.name, String(rounds)]);
    for (let i = 1; i <= rounds; i++) {
      Atomics.store(words, 0, i);
      futex.wake(words, 0, 1);
      while (Atomics.load(words, 1) < i) await futex.wait(words, 1, i - 1, { timeoutMs: 10_000 });
    }
    expect((await done).code).toBe(0);
    expect(Atomics.load(words, 1)).toBe(rounds);
  });

  it('abort and close() reject pending waits', async () => {
    const shm = segment();
    const words = new Int32Array(shm.buffer);
    const controller = new AbortController();
    const aborted = futex.wait(words, 0, 0, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    const pending = futex.wait(words, 0, 0);
    shm.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
  });

  it('works on a SharedArrayBuffer between worker threads', async () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const before = threadsNow();
    const waiting = futex.wait(words, 0, 0, { timeoutMs: 20_000 });
    await untilAsleep('shared-futex', 1, before);
    // The wake comes from another thread, the word left as it is: only the
    // wake can end the wait with 'ok'. (Atomics.notify would not do: V8 keeps
    // its own waiter lists and never wakes a kernel futex.)
    const worker = new Worker(
      `const { futex } = require(${JSON.stringify(path.join(__dirname, '..'))});
       const { workerData, parentPort } = require('node:worker_threads');
       parentPort.postMessage(futex.wake(workerData, 0, 1));`,
      { eval: true, workerData: words },
    );
    const woken = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(woken).toBe(1);
    const result = await waiting;
    expect(['ok', 'not-equal']).toContain(result);
    expect(result).toBe('ok');
    expect(Atomics.load(words, 0)).toBe(0);
    await worker.terminate();
  });
});

describe('futex arguments', () => {
  it('rejects what it cannot wait on', async () => {
    const words = new Int32Array(segment().buffer);
    expect(() => futex.wake(new Uint32Array(4) as unknown as Int32Array, 0)).toThrow(/must be an Int32Array/);
    expect(() => futex.wake(new Int32Array(4), 0)).toThrow(/SharedMemory buffer or a SharedArrayBuffer/);
    expect(() => futex.wake(words, words.length)).toThrow(RangeError);
    expect(() => futex.wake(words, -1)).toThrow(RangeError);
    expect(() => futex.wake(words, 0.5)).toThrow(RangeError);
    expect(() => futex.wake(words, 0, -1)).toThrow(/"count"/);
    expect(() => futex.waitSync(words, 0, 2 ** 31)).toThrow(/"expected"/);
    await expect(futex.wait(words, 0, 0, { timeoutMs: -5 })).rejects.toThrow(RangeError);
    const closed = segment();
    const stale = new Int32Array(closed.buffer);
    closed.close();
    // Issue 10: a view of a closed mapping is a use after close, not an index out of range.
    expect(() => futex.wake(stale, 0)).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
  });
});

describe('futex and resize', () => {
  it('resize() rejects waits pending on the old buffer', async () => {
    const shm = segment();
    const pending = futex.wait(new Int32Array(shm.buffer), 0, 0);
    shm.resize(8192);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
  });
});
