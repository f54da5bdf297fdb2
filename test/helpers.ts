/**
 * Shared test helpers: random names, real child processes, cleanup of kernel
 * objects, prerequisites, waiting on observable conditions, seeded randomness.
 */
import { type ChildProcess, type ForkOptions, fork } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect, onTestFailed, onTestFinished } from 'vitest';
import { AbortError } from '../lib/index.js';
import { mulberry32 } from './fixtures/prng.mjs';

export { runPrefix, TEST_PREFIX, uniqueName } from './names.js';

export const FIXTURES = path.join(__dirname, 'fixtures');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  messages: unknown[];
  stderr: string;
}

/** Forks test/fixtures/<script> (an .mjs importing 'shmkit'), collecting its IPC messages. */
export function runFixture(
  script: string,
  args: string[],
  options: ForkOptions = {},
  onMessage?: (message: unknown, child: ChildProcess) => void,
): { child: ChildProcess; done: Promise<ChildResult> } {
  const child = fork(path.join(FIXTURES, script), args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], ...options });
  const messages: unknown[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  child.on('message', (message) => {
    messages.push(message);
    onMessage?.(message, child);
  });
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    // 'close', not 'exit': only then are all of its stderr and IPC messages in.
    child.on('close', (code, signal) => resolve({ code, signal, messages, stderr }));
  });
  return { child, done };
}

/** Resolves with the first IPC message from `child` that satisfies `match`. */
export function nextMessage(child: ChildProcess, match: (message: unknown) => boolean = () => true): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!match(message)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null) => reject(new Error(`child exited (code ${code}) before the message`));
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Codes that mean "already gone": the test itself removed the object. */
const GONE = new Set(['ENOENT', 'EIDRM']);

/**
 * Registers `handle` for cleanup when the current test finishes (pass or
 * fail): it is closed, then removed with `remove` — a class with a static
 * `unlink(name)` (SharedMemory, RingBuffer...) or a function. An object the
 * test already removed is fine; any other cleanup error fails the test.
 * Call it inside a test. Returns `handle`.
 */
export function track<T extends { close(): void; name?: string }>(
  handle: T,
  remove?: { unlink(name: string): void } | ((handle: T) => void),
): T {
  onTestFinished(() => {
    handle.close();
    if (!remove) return;
    try {
      // A class is a function too: look for its static unlink() first.
      if ('unlink' in remove) remove.unlink(handle.name as string);
      else remove(handle);
    } catch (error) {
      if (!GONE.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
  });
  return handle;
}

/**
 * The rule for a missing prerequisite (a tool, a mount, a compiler): in CI
 * (`process.env.CI` set) it fails, naming what is missing, so a suite never
 * stops running unnoticed; in a local run it is reported and `false` returned.
 * Returns whether the prerequisite is met.
 */
export function prerequisite(met: boolean, what: string): boolean {
  if (met) return true;
  if (process.env.CI) throw new Error(`missing prerequisite: ${what} (CI must run this test)`);
  console.warn(`skipped: missing prerequisite: ${what}`);
  return false;
}

/**
 * Skips the current test (locally) or fails it (in CI) unless `met`; see
 * prerequisite(). `ctx` is the test context (or a beforeEach's).
 */
export function requireOrSkip(ctx: { skip(note?: string): never }, met: boolean, what: string): void {
  if (!prerequisite(met, what)) ctx.skip(`missing prerequisite: ${what}`);
}

/**
 * Polls `condition` (every `everyMs`) until it holds; after `timeoutMs` it
 * fails with "timed out waiting for <what>". For "the other side is ready",
 * instead of a fixed sleep.
 */
export async function waitFor(
  condition: () => boolean,
  what: string,
  { timeoutMs = 10_000, everyMs = 1 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

// Syscall numbers (x86_64 / arm64) of the waits asleep() recognises.
const FUTEX = process.arch === 'arm64' ? 98 : 202;
const FUTEX_WAITV = 449; // the same number on every architecture
const FUTEX_PRIVATE_FLAG = 0x80;

/** What a thread sleeps in, for asleep(). */
export type Sleep =
  /** A wait on memory shared between processes: shmkit's futex_waitv, or a semaphore's shared FUTEX_WAIT. */
  | 'shared-futex'
  /** A System V msgrcv / msgsnd. */
  | 'msgrcv'
  | 'msgsnd'
  /** poll() (shmkit's POSIX message queue waits). */
  | 'poll';

function sleepsIn(task: string, kind: Sleep): boolean {
  const wchan = fs.readFileSync(`${task}/wchan`, 'utf8');
  if (kind === 'msgrcv') return wchan.startsWith('do_msgrcv');
  if (kind === 'msgsnd') return wchan.startsWith('do_msgsnd');
  if (kind === 'poll') return /^(poll_schedule_timeout|do_sys_poll|do_poll)/.test(wchan);
  // libuv's and V8's own waits are process-private futexes: they do not count.
  const [nr, , op] = fs.readFileSync(`${task}/syscall`, 'utf8').trim().split(' ');
  if (Number(nr) === FUTEX_WAITV) return true;
  return Number(nr) === FUTEX && (Number(op) & FUTEX_PRIVATE_FLAG) === 0;
}

/**
 * How many threads of process `pid` are asleep in the kernel in a wait of
 * `kind` (from /proc/PID/task/TID/{wchan,syscall}). This is what "the peer is
 * parked" means; a marker message sent just before a blocking call only says
 * it is about to park. No baseline: for a child the test forked; in this
 * process, use asleepSince().
 */
export function asleep(kind: Sleep, pid: number): number {
  let count = 0;
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // the process is gone
  }
  for (const tid of tasks) {
    try {
      if (sleepsIn(`/proc/${pid}/task/${tid}`, kind)) count++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return count;
}

/**
 * The threads of this process as they are now: a baseline for untilAsleep, so
 * that a thread already asleep before the test's wait began (a wait left from
 * an earlier test, shmkit's signal catcher) does not count. Take it just
 * before starting the wait(s) that untilAsleep is to see.
 */
export interface Threads {
  readonly pid: number;
  /** Thread id -> its voluntary context switches when the baseline was taken. */
  readonly switches: ReadonlyMap<string, number>;
}

/** How often thread `task` (a /proc/PID/task/TID path) has gone to sleep; undefined if it is gone. */
function voluntarySwitches(task: string): number | undefined {
  try {
    const match = /^voluntary_ctxt_switches:\s*(\d+)$/m.exec(fs.readFileSync(`${task}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined; // the thread ended meanwhile
  }
}

/** Takes the baseline of this process's threads (see Threads). */
export function threadsNow(): Threads {
  const switches = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${process.pid}/task`)) {
    const count = voluntarySwitches(`/proc/${process.pid}/task/${tid}`);
    if (count !== undefined) switches.set(tid, count);
  }
  return { pid: process.pid, switches };
}

/**
 * The threads of this process that went to sleep in a wait of `kind` after
 * `since` was taken (their ids): a thread counts if it is asleep in `kind`
 * now and is new, or has gone to sleep again since (its voluntary context
 * switches moved). A thread that has slept through, unchanged, does not.
 */
export function sleepersSince(kind: Sleep, since: Threads): string[] {
  const tids: string[] = [];
  for (const tid of fs.readdirSync(`/proc/${since.pid}/task`)) {
    const task = `/proc/${since.pid}/task/${tid}`;
    try {
      if (!sleepsIn(task, kind)) continue;
    } catch {
      continue; // the thread ended meanwhile
    }
    const before = since.switches.get(tid);
    if (before === undefined || voluntarySwitches(task) !== before) tids.push(tid);
  }
  return tids;
}

/** How many threads sleepersSince() finds. */
export function asleepSince(kind: Sleep, since: Threads): number {
  return sleepersSince(kind, since).length;
}

/**
 * Whether thread `tid` of this process has left its wait of `kind` for good:
 * it is gone, or blocked in another system call (a waiter thread back in its
 * pool sleeps on a process-private futex). A thread between two sleeps of a
 * sliced wait is in no system call: that is not "left".
 */
export function sleepsElsewhere(tid: string, kind: Sleep): boolean {
  const task = `/proc/${process.pid}/task/${tid}`;
  try {
    const nr = Number(fs.readFileSync(`${task}/syscall`, 'utf8').trim().split(' ')[0]);
    // "running" (NaN) or -1 (not in a system call): it may go on waiting.
    return Number.isInteger(nr) && nr >= 0 && !sleepsIn(task, kind);
  } catch {
    return true; // the thread is gone
  }
}

/**
 * Waits (see waitFor) until `count` threads sleep in a wait of `kind`, where
 * `scope` says whose: the pid of a child process the test forked for this
 * wait (all of its sleepers count), or, for waits of this process, the
 * baseline taken with threadsNow() before they began (only sleepers since
 * then count: a waiter left from an earlier test must not satisfy it).
 */
export async function untilAsleep(kind: Sleep, count: number, scope: number | Threads): Promise<void> {
  if (typeof scope === 'number') {
    if (scope === process.pid) throw new Error('untilAsleep in this process needs a baseline: pass threadsNow()');
    return waitFor(() => asleep(kind, scope) >= count, `${count} thread(s) of process ${scope} asleep in ${kind}`);
  }
  return waitFor(
    () => asleepSince(kind, scope) >= count,
    `${count} thread(s) of this process asleep in ${kind} since the baseline`,
  );
}

/**
 * A small seeded PRNG (mulberry32) for tests that assert on random outcomes
 * (sizes, kill moments): the seed comes from SHMKIT_TEST_SEED or is drawn at
 * random, and is printed when the test fails, so a failure can be replayed
 * with SHMKIT_TEST_SEED=<seed>. Call it inside a test. Names of kernel objects
 * stay truly random (uniqueName).
 */
export function seededRandom(): { seed: number; next(): number; int(below: number): number } {
  const seed = process.env.SHMKIT_TEST_SEED ? Number(process.env.SHMKIT_TEST_SEED) >>> 0 : randomInt(2 ** 32);
  onTestFailed(() => console.error(`random seed: replay with SHMKIT_TEST_SEED=${seed}`));
  const next = mulberry32(seed);
  return { seed, next, int: (below) => Math.floor(next() * below) };
}

/**
 * The abort contract of an async wait: a wait started by `start(signal)`
 * rejects with an AbortError when aborted while it sleeps in `kind`, and one
 * started with an aborted signal rejects at once.
 */
export async function expectAbortWhileAsleep(
  kind: Sleep,
  start: (signal: AbortSignal) => Promise<unknown>,
): Promise<void> {
  const controller = new AbortController();
  const before = threadsNow();
  const waiting = start(controller.signal);
  await untilAsleep(kind, 1, before);
  controller.abort();
  await expect(waiting).rejects.toBeInstanceOf(AbortError);
  await expect(start(AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);
}

/**
 * The close contract of a handle with async waits: close() rejects every
 * pending wait (with and without a timeout) with ERR_SHMKIT_CLOSED, is safe
 * twice, and a wait after it rejects the same way.
 */
export async function expectCloseRejectsWaits(
  handle: { close(): void },
  wait: (options?: { timeoutMs?: number }) => Promise<unknown>,
): Promise<void> {
  const waits = [wait(), wait({ timeoutMs: 60_000 })];
  handle.close();
  handle.close();
  for (const waiting of waits) await expect(waiting).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
  await expect(wait()).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
}
