import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../lib/core/processes.js';
import { AbortError, Mutex } from '../lib/index.js';
import { nextMessage, runFixture, threadsNow, track, uniqueName, untilAsleep, waitFor } from './helpers.js';

const mutex = () => track(Mutex.create(uniqueName('mutex')), Mutex);

/** The state letter of process `pid` from /proc/PID/stat ('Z' for a zombie), or '' once it is gone. */
function processState(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

describe('Mutex', () => {
  it('locks, unlocks, and refuses what would be a mistake', () => {
    const m = mutex();
    const guard = m.lockSync();
    expect(guard.ownerDied).toBe(false);
    expect(m.held).toBe(true);
    expect(() => m.tryLock()).toThrow(expect.objectContaining({ code: 'EDEADLK' }));
    guard.unlock();
    guard.unlock(); // a guard unlocks its own acquisition once
    expect(() => m.unlock()).toThrow(expect.objectContaining({ code: 'EPERM' }));
    {
      using scoped = m.lockSync({ timeoutMs: 100 });
      expect(scoped.ownerDied).toBe(false);
    }
    expect(m.held).toBe(false);
  });

  it('excludes another process, and times out with ETIMEDOUT while it holds the lock', async () => {
    const m = mutex();
    const { child, done } = runFixture('mutex-holder.mjs', [m.name, 'hold']);
    await nextMessage(child);
    expect(m.tryLock()).toBeUndefined();
    expect(() => m.lockSync({ timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await expect(m.lock({ timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const aborted = m.lock({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    const before = threadsNow();
    const waiting = m.lock({ timeoutMs: 10_000 });
    await untilAsleep('shared-futex', 1, before); // parked on the lock before the child releases it
    child.send('release');
    const guard = await waiting;
    expect(guard.ownerDied).toBe(false);
    guard.unlock();
    expect((await done).code).toBe(0);
  });

  it('recovers a lock whose owner died holding it, and says so', async () => {
    const m = mutex();
    const { child, done } = runFixture('mutex-holder.mjs', [m.name, 'die']);
    await nextMessage(child).catch(() => undefined);
    const result = await done;
    expect(result.signal).toBe('SIGKILL');
    const guard = m.lockSync({ timeoutMs: 5000 });
    expect(guard.ownerDied).toBe(true);
    guard.unlock();
    expect(m.lockSync().ownerDied).toBe(false);
    m.unlock();
  });

  it('withLock runs sync and async functions and unlocks on throw', async () => {
    const m = mutex();
    expect(await m.withLock(() => 41 + 1)).toBe(42);
    expect(await m.withLock(async () => 'async')).toBe('async');
    await expect(
      m.withLock(() => {
        throw new Error('inside');
      }),
    ).rejects.toThrow('inside');
    expect(m.held).toBe(false);
    expect(m.tryLock()).toBeDefined();
    m.unlock();
  });

  it('opens by name, refuses non-mutex objects, and closes safely twice', async () => {
    const m = mutex();
    const other = Mutex.open(m.name);
    other.lockSync().unlock();
    other.close();
    other.close();
    expect(() => other.tryLock()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
    const { SharedMemory } = await import('../lib/index.js');
    const notMutex = SharedMemory.create(uniqueName('shm'), { size: 128 });
    expect(() => Mutex.open(notMutex.name)).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_MUTEX_FORMAT' }));
    notMutex.close();
    notMutex.unlink();
    expect(() => Mutex.create(m.name)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  it('counts a dead owner that is not yet reaped (a zombie) as dead', async () => {
    // python3 forks a child that exits at once and is never waited for: a zombie.
    const parent = spawn('python3', [
      '-c',
      'import os,time\npid=os.fork()\nif pid==0: os._exit(0)\nprint(pid,flush=True)\ntime.sleep(30)',
    ]);
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        parent.on('error', reject);
        parent.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim())));
      });
      await waitFor(() => processState(pid) === 'Z', `process ${pid} to be a zombie`);
      expect(() => process.kill(pid, 0)).not.toThrow(); // the kernel still knows the pid
      expect(isProcessAlive(pid)).toBe(false);
      expect(isProcessAlive(process.pid)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
