/**
 * A robust process-shared lock in one 32-bit word of a mapping, built on
 * futex(2): the word holds the owner's pid (bits 0..29), plus bit 31 when
 * someone sleeps waiting for it; 0 means free. If the owner died holding it,
 * the next locker takes it over and is told (`ownerDied`) instead of hanging.
 *
 * Ownership is per process: two handles or threads of one process share a
 * pid. A dead owner whose pid the kernel already reused for a live process
 * looks alive: the lock then times out (ETIMEDOUT) rather than recover.
 * Pids are only meaningful within one pid namespace.
 */
import { systemError, timeoutError } from '../core/errors.js';
import type { WaitOptions } from '../core/pending.js';
import { isProcessAlive } from '../core/processes.js';
import { runSleeps, runSleepsSync, type SleepSteps, wakeWord } from '../primitives/futex.js';

export const WAITERS_BIT = 0x80000000 | 0;
export const OWNER_MASK = 0x3fffffff;
/** How long a sleeper sleeps before it re-checks that the owner still lives. */
const LIVENESS_SLICE_MS = 50;

export interface LockOutcome {
  /** The previous owner died holding the lock: what it guarded may be half-updated. */
  ownerDied: boolean;
}

const ACQUIRED: LockOutcome = Object.freeze({ ownerDied: false });
const RECOVERED: LockOutcome = Object.freeze({ ownerDied: true });

/** One attempt: takes a free lock, or a dead owner's. Never waits. */
export function tryLockWord(words: Int32Array, index: number, pid: number, waiting = false): LockOutcome | undefined {
  const mine = waiting ? pid | WAITERS_BIT : pid;
  const seen = Atomics.compareExchange(words, index, 0, mine);
  if (seen === 0) return ACQUIRED;
  if (isProcessAlive(seen & OWNER_MASK)) return undefined;
  const recovered = Atomics.compareExchange(words, index, seen, pid | (seen & WAITERS_BIT));
  return recovered === seen ? RECOVERED : undefined;
}

/** Marks the lock as wanted; returns the value to sleep on, or 0 if it became free. */
function announceWaiter(words: Int32Array, index: number): number {
  for (;;) {
    const seen = Atomics.load(words, index);
    if (seen === 0) return 0;
    const wanted = seen | WAITERS_BIT;
    if (seen === wanted || Atomics.compareExchange(words, index, seen, wanted) === seen) return wanted;
  }
}

function sliceMs(deadline: number): number {
  return Math.max(0, Math.min(LIVENESS_SLICE_MS, deadline - performance.now()));
}

/**
 * The locking loop, shared by the sync and async forms (and by a ring's side
 * lock, which runs it inside its own wait loop): yields each sleep it needs
 * (a driver in lib/primitives/futex.ts performs it), returns the outcome once
 * the lock is ours. `timeoutMs` -1 waits forever.
 */
export function* lockSteps(
  words: Int32Array,
  index: number,
  pid: number,
  timeoutMs: number,
  what: string,
): SleepSteps<LockOutcome> {
  const deadline = timeoutMs < 0 ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
  let waiting = false;
  for (;;) {
    const outcome = tryLockWord(words, index, pid, waiting);
    if (outcome) return outcome;
    if (performance.now() >= deadline) throw timeoutError('futex', what, timeoutMs);
    const expected = announceWaiter(words, index);
    if (expected !== 0) yield { index, expected, timeoutMs: sliceMs(deadline) };
    waiting = true; // others may sleep too: keep the waiters bit when we take it
  }
}

/** Blocks this thread until the lock is ours (or `timeoutMs` passes: ETIMEDOUT). */
export function lockWordSync(
  words: Int32Array,
  index: number,
  pid: number,
  timeoutMs: number,
  what: string,
): LockOutcome {
  return runSleepsSync(words, lockSteps(words, index, pid, timeoutMs, what));
}

/** Like lockWordSync, without blocking the event loop. */
export function lockWord(
  words: Int32Array,
  index: number,
  pid: number,
  options: WaitOptions,
  what: string,
): Promise<LockOutcome> {
  return runSleeps(words, lockSteps(words, index, pid, options.timeoutMs ?? -1, what), options);
}

/**
 * Releases the lock and wakes one sleeper if any.
 * @throws `EPERM` if this process does not own it.
 */
export function unlockWord(words: Int32Array, index: number, pid: number, what: string): void {
  const seen = Atomics.load(words, index);
  if ((seen & OWNER_MASK) !== pid) {
    throw systemError('EPERM', 'futex', what, 'unlock of a lock this process does not hold');
  }
  if (Atomics.exchange(words, index, 0) & WAITERS_BIT) wakeWord(words, index, 1);
}
