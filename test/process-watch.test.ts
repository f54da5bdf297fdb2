/**
 * ProcessWatch: a process's exit learned through pidfd_open(2) on the shared
 * poll thread (or /proc checks where pidfd is missing), with a recorded start
 * time defeating pid reuse.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { processStartTicks } from '../lib/core/processes.js';
import { AbortError, ProcessWatch } from '../lib/index.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A child that lives until killed. */
async function sleeper(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  return child;
}

const tasks = () => new Set(fs.readdirSync('/proc/self/task'));

describe.each([
  ['pidfd', undefined],
  ['the /proc fallback', '1'],
])('ProcessWatch (%s)', (_label, noPidfd) => {
  const open: typeof ProcessWatch.open = (pid, options) => {
    const saved = process.env.SHMKIT_NO_PIDFD;
    if (noPidfd) process.env.SHMKIT_NO_PIDFD = noPidfd;
    try {
      return ProcessWatch.open(pid, { fallbackIntervalMs: 5, ...options });
    } finally {
      if (saved === undefined) delete process.env.SHMKIT_NO_PIDFD;
      else process.env.SHMKIT_NO_PIDFD = saved;
    }
  };

  it('exit() resolves once the process is killed, not before', async () => {
    const child = await sleeper();
    const watch = open(child.pid as number, { startTicks: processStartTicks(child.pid as number) });
    expect(watch.exited).toBe(false);
    let ended = false;
    const exit = watch.exit().then(() => {
      ended = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ended).toBe(false);
    child.kill('SIGKILL');
    await exit;
    expect(watch.exited).toBe(true);
    await watch.exit(); // at once now
    watch.close();
  });

  it('a process with the pid but another start time is not the one watched: already dead', async () => {
    const child = await sleeper();
    const pid = child.pid as number;
    const watch = open(pid, { startTicks: (processStartTicks(pid) as number) + 1 });
    expect(watch.exited).toBe(true);
    await watch.exit();
    watch.close();
  });

  it('a pid with no process is watched as dead', async () => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await once(child, 'exit'); // reaped by Node: the pid names nothing now
    const watch = open(child.pid as number);
    expect(watch.exited).toBe(true);
    watch.close();
  });

  it('an aborted exit() rejects with an AbortError and the watch goes on; close() rejects a pending one', async () => {
    const child = await sleeper();
    const watch = open(child.pid as number);
    const controller = new AbortController();
    const aborted = watch.exit({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    const pending = watch.exit();
    watch.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
    expect(() => watch.exited).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
    watch.close(); // safe twice
  });
});

describe('ProcessWatch arguments and threads', () => {
  it('refuses a bad pid', () => {
    for (const pid of [0, -1, 1.5, 2 ** 23, Number.NaN]) {
      expect(() => ProcessWatch.open(pid)).toThrow(RangeError);
    }
    expect(() => ProcessWatch.open('1' as never)).toThrow(TypeError);
  });

  it('64 pending exit() waits share the poll thread: at most one thread added', async () => {
    const child = await sleeper();
    const before = tasks();
    const watches = Array.from({ length: 64 }, () => ProcessWatch.open(child.pid as number));
    const exits = watches.map((watch) => watch.exit());
    const added = [...tasks()].filter((tid) => !before.has(tid)).length;
    expect(added).toBeLessThanOrEqual(1);
    child.kill('SIGKILL');
    await Promise.all(exits);
    for (const watch of watches) watch.close();
  });
});
