/**
 * Process-shared futex wait/wake (futex(2)) on a 32-bit word of a
 * SharedMemory mapping — or of a SharedArrayBuffer between worker threads.
 * `Atomics.wait` cannot do this: it needs a SharedArrayBuffer and sleeps only
 * within one process. These are shared (not FUTEX_PRIVATE) futexes.
 */
import { binding, requireCapability } from '../core/binding.js';
import { ClosedError } from '../core/errors.js';
import { isMapping, isUnmapped, waitsOn } from '../core/mappings.js';
import { parseWaitOptions, parseWaitSyncOptions, type WaitOptions, type WaitSyncOptions } from '../core/pending.js';
import { typeError, validateInteger } from '../core/validate.js';

export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out';

/** @deprecated Use {@link WaitSyncOptions}. */
export type FutexWaitSyncOptions = WaitSyncOptions;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function checkWord(view: unknown, index: unknown): Int32Array {
  requireCapability('futex', 'futex(2) is');
  if (!(view instanceof Int32Array)) throw typeError('view', 'an Int32Array', view);
  // A view of a closed (or resized) mapping has length 0: say why, not "index must be <= -1".
  if (isUnmapped(view.buffer)) {
    const what = "the SharedMemory mapping under 'view'";
    throw new ClosedError(what, `${what} was closed, resized or unmapped: take a new view of an open handle's buffer`);
  }
  if (!isMapping(view.buffer) && !(view.buffer instanceof SharedArrayBuffer)) {
    throw typeError('view', 'an Int32Array over a SharedMemory buffer or a SharedArrayBuffer', view.buffer);
  }
  validateInteger(index, 'index', 0, view.length - 1);
  return view;
}

/**
 * Sleeps while `view[index] === expected`, until woken by {@link wake} from
 * any process. Resolves 'ok' when woken (or the word changed while asleep),
 * 'not-equal' if the word differed at the start, 'timed-out' after `timeoutMs`.
 * Never blocks the event loop or a libuv pool thread.
 * @throws (rejects) an `AbortError` when `signal` aborts; `ERR_SHMKIT_CLOSED`
 * when the mapping is closed first, or was closed (or resized) before the call. Throws `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM` off Linux.
 */
export async function wait(
  view: Int32Array,
  index: number,
  expected: number,
  options?: WaitOptions,
): Promise<FutexWaitResult> {
  checkWord(view, index);
  validateInteger(expected, 'expected', INT32_MIN, INT32_MAX);
  return sleepWord(view, index, expected, parseWaitOptions(options));
}

/**
 * Like {@link wait} but blocks this thread — for workers, scripts and labs.
 * Spurious 'ok' results are possible, as with any futex: re-check the word.
 * @throws `ERR_SHMKIT_CLOSED` (a ClosedError) on a view of a closed or resized mapping.
 */
export function waitSync(
  view: Int32Array,
  index: number,
  expected: number,
  options?: WaitSyncOptions,
): FutexWaitResult {
  checkWord(view, index);
  validateInteger(expected, 'expected', INT32_MIN, INT32_MAX);
  return sleepWordSync(view, index, expected, parseWaitSyncOptions(options));
}

/**
 * Wakes up to `count` sleepers on `view[index]` in any process (default: all,
 * as `Atomics.notify`). Returns how many were woken.
 * @throws `ERR_SHMKIT_CLOSED` (a ClosedError) on a view of a closed or resized mapping.
 */
export function wake(view: Int32Array, index: number, count: number = Number.POSITIVE_INFINITY): number {
  checkWord(view, index);
  if (count !== Number.POSITIVE_INFINITY) validateInteger(count, 'count', 0, INT32_MAX);
  return wakeWord(view, index, count);
}

/** futex wait/wake: `futex.wait`, `futex.waitSync`, `futex.wake`. */
export const futex = { wait, waitSync, wake } as const;

// ------------------------------------------------------------------------
// Internal entry points for shmkit's own structures (not exported from
// lib/index.ts). Their callers made the view over a mapping themselves and
// checked their indices once, so nothing is re-validated here: a ring's wake
// is on its hot path. Every futex wait and wake of lib/structures goes
// through these, so this file is the only one that calls the native futex.

/** @internal Wakes up to `count` sleepers on `view[index]` (unchecked). */
export function wakeWord(view: Int32Array, index: number, count: number): number {
  return binding.futex.wake(view, index, count);
}

/** @internal Sleeps while `view[index] === expected`, blocking this thread; `timeoutMs` -1 waits forever (unchecked). */
export function sleepWordSync(view: Int32Array, index: number, expected: number, timeoutMs: number): FutexWaitResult {
  return binding.futex.waitSync(view, index, expected, timeoutMs) as FutexWaitResult;
}

/**
 * @internal Like {@link sleepWordSync} without blocking the event loop: the
 * sleep is registered with the mapping's pending waits, so `signal` aborts it
 * and closing the mapping rejects it (`ERR_SHMKIT_CLOSED`).
 */
export function sleepWord(
  view: Int32Array,
  index: number,
  expected: number,
  options: WaitOptions,
): Promise<FutexWaitResult> {
  return waitsOn(view.buffer).start(
    (timeoutMs, ref, callback) => binding.futex.waitAsync(view, index, expected, timeoutMs, ref, callback),
    options,
    (result) => result as FutexWaitResult,
  );
}

/**
 * @internal One sleep a wait loop asks its driver for: on `view[index]`
 * while it holds `expected`, for at most `timeoutMs` (-1: no limit).
 */
export interface FutexSleep {
  index: number;
  expected: number;
  timeoutMs: number;
}

/** @internal A wait loop written once: yields the sleeps it needs, returns its result. */
export type SleepSteps<T> = Generator<FutexSleep, T, void>;

/**
 * @internal Runs a wait loop, performing each sleep it yields on `view` and
 * blocking this thread; returns what the loop returns (or throws what it throws).
 */
export function runSleepsSync<T>(view: Int32Array, steps: SleepSteps<T>): T {
  try {
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      sleepWordSync(view, step.value.index, step.value.expected, step.value.timeoutMs);
    }
  } finally {
    steps.return(undefined as T); // a sleep that threw still runs the loop's own finally blocks
  }
}

/**
 * @internal Like {@link runSleepsSync} without blocking the event loop; each
 * sleep honours `options.signal` and `options.ref` (a sleep's own
 * `timeoutMs` replaces `options.timeoutMs`: the loop keeps the deadline).
 */
export async function runSleeps<T>(view: Int32Array, steps: SleepSteps<T>, options: WaitOptions): Promise<T> {
  try {
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      const { index, expected, timeoutMs } = step.value;
      await sleepWord(view, index, expected, {
        timeoutMs: timeoutMs < 0 ? undefined : timeoutMs,
        signal: options.signal,
        ref: options.ref,
      });
    }
  } finally {
    steps.return(undefined as T); // an aborted or rejected sleep still runs the loop's own finally blocks
  }
}
