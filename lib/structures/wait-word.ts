/**
 * The wait-word protocol shared by every shmkit sleeper (ring sides, a
 * service's doorbell): an Int32 word whose bit 0 says "someone may sleep"
 * and whose bits 1..31 are an epoch. A sleeper raises the bit, re-checks its
 * condition, then sleeps on the word's value; a waker that changed the
 * condition lowers the bit and advances the epoch in one CAS, and only then
 * pays the FUTEX_WAKE. Any wake since the bit went up changes the word, so
 * the kernel refuses a sleep that would miss it; and a side that nobody
 * sleeps on costs its waker one load. (docs/ring-format.md, "Wait words".)
 */
import { wakeWord } from '../primitives/futex.js';

const INT32_MAX = 2147483647;

/**
 * Raises the "may sleep" bit of `words[index]` before the sleeper's last
 * check of its condition. Returns the value to sleep on. Only wakers lower
 * the bit.
 */
export function raiseSleepBit(words: Int32Array, index: number): number {
  for (;;) {
    const seen = Atomics.load(words, index);
    if ((seen & 1) !== 0) return seen; // raised already, by this sleeper earlier or another
    if (Atomics.compareExchange(words, index, seen, seen | 1) === seen) return seen | 1;
  }
}

/**
 * Whether this caller must wake the sleepers of `words[index]`: the bit was
 * up and this caller lowered it, advancing the epoch in the same step, so
 * every sleeper's expected value is stale. The CAS lets one waker per sleep
 * pay the wake system call.
 */
export function claimSleepers(words: Int32Array, index: number): boolean {
  for (;;) {
    const seen = Atomics.load(words, index);
    if ((seen & 1) === 0) return false;
    if (Atomics.compareExchange(words, index, seen, (seen + 1) | 0) === seen) return true;
  }
}

/** Wakes every sleeper of `words[index]` if one may sleep (claimSleepers); returns whether it did. */
export function wakeSleepers(words: Int32Array, index: number): boolean {
  if (!claimSleepers(words, index)) return false;
  wakeWord(words, index, INT32_MAX);
  return true;
}
