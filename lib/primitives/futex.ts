/**
 * Process-shared futex wait/wake (futex(2)) on a 32-bit word of a
 * SharedMemory mapping — or of a SharedArrayBuffer between worker threads.
 * `Atomics.wait` cannot do this: it needs a SharedArrayBuffer and sleeps only
 * within one process. These are shared (not FUTEX_PRIVATE) futexes.
 */
import { binding, requireCapability } from '../core/binding.js';
import { isMapping, waitsOn } from '../core/mappings.js';
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
 * when the mapping is closed first. Throws `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM` off Linux.
 */
export async function wait(
  view: Int32Array,
  index: number,
  expected: number,
  options?: WaitOptions,
): Promise<FutexWaitResult> {
  checkWord(view, index);
  validateInteger(expected, 'expected', INT32_MIN, INT32_MAX);
  const opts = parseWaitOptions(options);
  return waitsOn(view.buffer).start(
    (timeoutMs, ref, callback) => binding.futex.waitAsync(view, index, expected, timeoutMs, ref, callback),
    opts,
    (result) => result as FutexWaitResult,
  );
}

/**
 * Like {@link wait} but blocks this thread — for workers, scripts and labs.
 * Spurious 'ok' results are possible, as with any futex: re-check the word.
 */
export function waitSync(
  view: Int32Array,
  index: number,
  expected: number,
  options?: WaitSyncOptions,
): FutexWaitResult {
  checkWord(view, index);
  validateInteger(expected, 'expected', INT32_MIN, INT32_MAX);
  const timeoutMs = parseWaitSyncOptions(options);
  return binding.futex.waitSync(view, index, expected, timeoutMs) as FutexWaitResult;
}

/**
 * Wakes up to `count` sleepers on `view[index]` in any process (default: all,
 * as `Atomics.notify`). Returns how many were woken.
 */
export function wake(view: Int32Array, index: number, count: number = Number.POSITIVE_INFINITY): number {
  checkWord(view, index);
  if (count !== Number.POSITIVE_INFINITY) validateInteger(count, 'count', 0, INT32_MAX);
  return binding.futex.wake(view, index, count);
}

/** futex wait/wake: `futex.wait`, `futex.waitSync`, `futex.wake`. */
export const futex = { wait, waitSync, wake } as const;
