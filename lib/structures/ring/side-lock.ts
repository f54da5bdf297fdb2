/**
 * The lock of one side (the producers or the consumers) of a multi ring: a
 * robust lock word in the ring's header (../lock-word.ts) that records its
 * owner's pid (and, beside it, the owner's start time), so a process that
 * dies holding it does not stall the ring, even once its pid is reused: the
 * next locker takes it over and counts a recovery. A dead owner left
 * nothing half-published: indices move only at the end of a push or pop.
 */
import { timeoutError } from '../../core/errors.js';
import type { SleepSteps } from '../../primitives/futex.js';
import { LockWord } from '../lock-word.js';
import { f64, HEADER_BYTES, OFFSET } from './format.js';

/** CAS attempts before one robust attempt (which checks the owner's liveness). */
const LOCK_SPINS = 256;

export class SideLock {
  readonly #lock: LockWord;
  readonly #stats: Float64Array;
  /** Names the lock in errors, e.g. "/jobs producer lock". */
  readonly what: string;

  constructor(buffer: ArrayBufferLike, side: 'producer' | 'consumer', ringName: string) {
    this.#stats = new Float64Array(buffer, 0, HEADER_BYTES / 8);
    this.what = `${ringName} ${side} lock`;
    // Its owner record (pid + start ticks) is the u64 8 bytes on: 200 or 264.
    this.#lock = new LockWord(buffer, side === 'producer' ? OFFSET.producerLock : OFFSET.consumerLock, this.what);
  }

  /**
   * Takes the lock without sleeping: a short CAS spin (critical sections are
   * one copy long), then one robust attempt, which takes over a dead owner's
   * lock. False if another live process holds it. Waiting for a held lock
   * is awaitFree(), inside the caller's wait with its deadline and signal.
   */
  tryLock(): boolean {
    if (this.#lock.spinLock(LOCK_SPINS)) return true;
    const outcome = this.#lock.tryLock();
    if (outcome?.ownerDied) this.#countRecovery();
    return outcome !== undefined;
  }

  /** @throws `EPERM` if this process does not hold the lock. */
  unlock(): void {
    this.#lock.unlock();
  }

  /**
   * The sleeps of waiting until the lock is free, within `leftMs` (-1: no
   * limit): takes it and at once releases it, so a dead owner's lock is
   * recovered. The caller then retries its try-operation.
   * @throws `ETIMEDOUT` (naming the lock and the caller's `timeoutMs`) once no time is left.
   */
  *awaitFree(leftMs: number, timeoutMs: number | undefined): SleepSteps<void> {
    if (leftMs === 0) throw timeoutError('futex', this.what, timeoutMs ?? 0);
    const outcome = yield* this.#lock.lockSteps(leftMs);
    if (outcome.ownerDied) this.#countRecovery();
    this.unlock();
  }

  #countRecovery(): void {
    const at = f64(OFFSET.lockRecoveries);
    this.#stats[at] = (this.#stats[at] as number) + 1;
  }
}
