/**
 * How one side of a ring waits for the other: spin, then sleep on the
 * side's wait word, and how the other side wakes it (format: the wait words
 * of ./format.ts, protocol in docs/ring-format.md).
 *
 * A wait is written once, as a generator of futex sleeps (parkSteps), and
 * driven by one sync and one async loop (lib/primitives/futex.ts), as
 * ../lock-word.ts does for a lock. Only a push or pop that failed enters
 * here; a wake costs a system call only when the wait word says someone may
 * sleep.
 */

import { remainingMs } from '../../core/deadline.js';
import { timeoutError } from '../../core/errors.js';
import type { WaitOptions } from '../../core/pending.js';
import { runSleeps, runSleepsSync, type SleepSteps } from '../../primitives/futex.js';
import { raiseSleepBit, wakeSleepers } from '../wait-word.js';
import { f64 } from './format.js';
import type { SideLock } from './side-lock.js';

/** One side's wait: what it waits for, and where it parks. */
export interface WaitSide {
  /** Whether what the side waits for is there (a message, or room for a frame). */
  ready: () => boolean;
  /** The side's lock on a multi ring (a held lock fails a try-operation too); undefined on a single side. */
  lock: SideLock | undefined;
  /** Index (Int32) of the side's wait word: bit 0 "may sleep", bits 1..31 an epoch. */
  word: number;
  /** Byte offset of the side's parks counter (f64). */
  parks: number;
}

export class Parker {
  readonly #words: Int32Array;
  readonly #stats: Float64Array;
  readonly #spinUs: number;
  readonly #name: string;

  constructor(buffer: ArrayBufferLike, spinUs: number, name: string) {
    this.#words = new Int32Array(buffer);
    // The whole mapping, so that a parks counter may lie past the ring header
    // (a topic keeps one per subscriber slot: ../topic/format.ts).
    this.#stats = new Float64Array(buffer, 0, buffer.byteLength >> 3);
    this.#spinUs = spinUs;
    this.#name = name;
  }

  /** Blocks this thread until `side` may be ready (then retry the try-operation). @throws `ETIMEDOUT` */
  waitSync(side: WaitSide, deadline: number, timeoutMs: number | undefined): void {
    runSleepsSync(this.#words, this.#steps(side, deadline, timeoutMs));
  }

  /** Like waitSync(), without blocking the event loop; honours `options.signal` and `options.ref`. */
  wait(side: WaitSide, deadline: number, options: WaitOptions): Promise<void> {
    return runSleeps(this.#words, this.#steps(side, deadline, options.timeoutMs), options);
  }

  /**
   * Wakes every sleeper on the wait word `word` if its "may sleep" bit is
   * up (and counts the wake at byte offset `wakes`). Call it after storing
   * the index the sleepers wait on: store index, then load word (see
   * docs/ring-format.md); ./indices.ts calls it only when its own plain load
   * saw the bit up, so the common case (nobody sleeps) makes no call at all.
   */
  wake(word: number, wakes: number): void {
    if (wakeSleepers(this.#words, word)) this.#stats[f64(wakes)] = (this.#stats[f64(wakes)] as number) + 1;
  }

  /**
   * The wait, written once: if the side is ready but its try-operation
   * failed, that was its lock (held by another process): wait for that.
   * Otherwise spin for spinUs, then announce and sleep on the wait word.
   */
  *#steps(side: WaitSide, deadline: number, timeoutMs: number | undefined): SleepSteps<void> {
    if (side.lock && side.ready()) {
      yield* side.lock.awaitFree(remainingMs(deadline), timeoutMs);
      return;
    }
    if (this.#spin(side.ready)) return;
    this.#stats[f64(side.parks)] = (this.#stats[f64(side.parks)] as number) + 1;
    const expected = raiseSleepBit(this.#words, side.word);
    if (side.ready()) return;
    // Any waker since we raised the bit has advanced the epoch: the kernel
    // then refuses the sleep instead of letting us miss that wake.
    const left = remainingMs(deadline);
    if (left === 0) throw timeoutError('futex', this.#name, timeoutMs ?? 0);
    yield { index: side.word, expected, timeoutMs: left };
  }

  /** Spins up to spinUs for `ready()`; true if it became ready. */
  #spin(ready: () => boolean): boolean {
    if (this.#spinUs === 0) return false;
    const until = performance.now() + this.#spinUs / 1000;
    for (let i = 1; ; i++) {
      if (ready()) return true;
      if ((i & 63) === 0 && performance.now() >= until) return false;
    }
  }
}
