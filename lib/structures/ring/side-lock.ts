/**
 * The lock of one side (the producers or the consumers) of a multi ring: a
 * robust lock word in the ring's header (../lock-word.ts) that records its
 * owner's pid, so a process that dies holding it does not stall the ring:
 * the next locker takes it over and counts a recovery. A dead owner left
 * nothing half-published: indices move only at the end of a push or pop.
 */
import { timeoutError } from '../../core/errors.js';
import type { SleepSteps } from '../../primitives/futex.js';
import { lockSteps, tryLockWord, unlockWord } from '../lock-word.js';
import { f64, HEADER_BYTES, OFFSET, word } from './format.js';

/** CAS attempts before one robust attempt (which checks the owner's liveness). */
const LOCK_SPINS = 256;

export class SideLock {
  readonly #words: Int32Array;
  readonly #stats: Float64Array;
  readonly #index: number;
  readonly #pid = process.pid;
  /** Names the lock in errors, e.g. "/jobs producer lock". */
  readonly what: string;

  constructor(buffer: ArrayBufferLike, side: 'producer' | 'consumer', ringName: string) {
    this.#words = new Int32Array(buffer);
    this.#stats = new Float64Array(buffer, 0, HEADER_BYTES / 8);
    this.#index = word(side === 'producer' ? OFFSET.producerLock : OFFSET.consumerLock);
    this.what = `${ringName} ${side} lock`;
  }

  /**
   * Takes the lock without sleeping: a short CAS spin (critical sections are
   * one copy long), then one robust attempt, which takes over a dead owner's
   * lock. False if another live process holds it. Waiting for a held lock
   * is awaitFree(), inside the caller's wait with its deadline and signal.
   */
  tryLock(): boolean {
    const words = this.#words;
    for (let i = 0; i < LOCK_SPINS; i++) {
      if (Atomics.load(words, this.#index) === 0 && Atomics.compareExchange(words, this.#index, 0, this.#pid) === 0) {
        return true;
      }
    }
    const outcome = tryLockWord(words, this.#index, this.#pid);
    if (outcome?.ownerDied) this.#countRecovery();
    return outcome !== undefined;
  }

  /** @throws `EPERM` if this process does not hold the lock. */
  unlock(): void {
    unlockWord(this.#words, this.#index, this.#pid, this.what);
  }

  /**
   * The sleeps of waiting until the lock is free, within `leftMs` (-1: no
   * limit): takes it and at once releases it, so a dead owner's lock is
   * recovered. The caller then retries its try-operation.
   * @throws `ETIMEDOUT` (naming the lock and the caller's `timeoutMs`) once no time is left.
   */
  *awaitFree(leftMs: number, timeoutMs: number | undefined): SleepSteps<void> {
    if (leftMs === 0) throw timeoutError('futex', this.what, timeoutMs ?? 0);
    const outcome = yield* lockSteps(this.#words, this.#index, this.#pid, leftMs, this.what);
    if (outcome.ownerDied) this.#countRecovery();
    this.unlock();
  }

  #countRecovery(): void {
    const at = f64(OFFSET.lockRecoveries);
    this.#stats[at] = (this.#stats[at] as number) + 1;
  }
}
