/**
 * A robust process-shared lock in one 32-bit word of a mapping, built on
 * futex(2): the word holds the owner's pid (bits 0..29), plus bit 31 when
 * someone sleeps waiting for it; 0 means free. If the owner died holding it,
 * the next locker takes it over and is told (`ownerDied`) instead of hanging.
 *
 * The 8 bytes after the lock word's 8-byte slot hold its owner record: a
 * little-endian u64 whose low 32 bits are the owner's pid and high 32 bits
 * the low 32 bits of its start time (/proc/PID/stat starttime, clock ticks
 * since boot), stored by the locker right after its CAS and cleared before
 * the unlock releases the word. A pid alone cannot tell a live owner from a
 * dead one whose pid the kernel gave to a new process; pid plus start time
 * can. A record of 0, or one naming another pid than the lock word (a peer
 * that does not write records, or a locker between its CAS and its store),
 * says nothing: liveness then rests on the pid alone, as before records.
 *
 * Ownership is per process: two handles or threads of one process share a
 * pid. Pids are only meaningful within one pid namespace.
 */

import { deadlineOf, remainingMs } from '../core/deadline.js';
import { systemError, timeoutError } from '../core/errors.js';
import type { WaitOptions } from '../core/pending.js';
import { processLife, processStartTicks } from '../core/processes.js';
import { runSleeps, runSleepsSync, type SleepSteps, wakeWord } from '../primitives/futex.js';

export const WAITERS_BIT = 0x80000000 | 0;
export const OWNER_MASK = 0x3fffffff;
/** Bytes from a lock word's 8-byte slot to its owner record. */
const OWNER_RECORD_DELTA = 8;
/** How long a sleeper sleeps before it re-checks that the owner still lives. */
const LIVENESS_SLICE_MS = 50;
const TICKS_MODULUS = 2 ** 32;

export interface LockOutcome {
  /** The previous owner died holding the lock: what it guarded may be half-updated. */
  ownerDied: boolean;
}

const ACQUIRED: LockOutcome = Object.freeze({ ownerDied: false });
const RECOVERED: LockOutcome = Object.freeze({ ownerDied: true });

/** An owner record: pid in the low 32 bits, start ticks (mod 2^32) in the high 32; 0 when unknown. */
export function ownerRecord(pid: number, startTicks: number | undefined): bigint {
  if (startTicks === undefined) return 0n;
  return BigInt(pid >>> 0) | (BigInt(startTicks % TICKS_MODULUS) << 32n);
}

let ownRecordCache: bigint | undefined;

/** This process's record, read from /proc once per process (the hot path never reads /proc). */
function ownRecord(): bigint {
  ownRecordCache ??= ownerRecord(process.pid, processStartTicks('self'));
  return ownRecordCache;
}

/** A lock word at `byteOffset` (4-aligned; its record is the next 8-byte slot) of a shared mapping. */
export class LockWord {
  /** The mapping as 32-bit words: the futex view sleeps go through. */
  readonly words: Int32Array;
  /** Index of the lock word in `words`. */
  readonly index: number;
  /** Names the lock in errors. */
  readonly what: string;
  /** A view of the owner record alone: the mapping's length need not be a multiple of 8. */
  readonly #record: BigUint64Array;
  readonly #pid = process.pid;

  constructor(buffer: ArrayBufferLike, byteOffset: number, what: string) {
    this.words = new Int32Array(buffer);
    this.index = byteOffset >> 2;
    this.#record = new BigUint64Array(buffer, (byteOffset & ~7) + OWNER_RECORD_DELTA, 1);
    this.what = what;
  }

  /** A short CAS spin on a free word (no /proc, no syscall); true once it is ours. */
  spinLock(spins: number): boolean {
    const words = this.words;
    for (let i = 0; i < spins; i++) {
      if (Atomics.load(words, this.index) === 0 && Atomics.compareExchange(words, this.index, 0, this.#pid) === 0) {
        this.#claim();
        return true;
      }
    }
    return false;
  }

  /** One attempt: takes a free lock, or a dead owner's. Never waits. */
  tryLock(waiting = false): LockOutcome | undefined {
    const mine = waiting ? this.#pid | WAITERS_BIT : this.#pid;
    const seen = Atomics.compareExchange(this.words, this.index, 0, mine);
    if (seen === 0) {
      this.#claim();
      return ACQUIRED;
    }
    if (!this.#ownerGone(seen)) return undefined;
    const recovered = Atomics.compareExchange(this.words, this.index, seen, this.#pid | (seen & WAITERS_BIT));
    if (recovered !== seen) return undefined;
    this.#claim();
    return RECOVERED;
  }

  /**
   * The locking loop, shared by the sync and async forms (and by a ring's side
   * lock, which runs it inside its own wait loop): yields each sleep it needs
   * (a driver in lib/primitives/futex.ts performs it), returns the outcome once
   * the lock is ours. `timeoutMs` -1 waits forever.
   * @throws `ETIMEDOUT` once `timeoutMs` has passed.
   */
  *lockSteps(timeoutMs: number): SleepSteps<LockOutcome> {
    const deadline = deadlineOf(timeoutMs);
    let waiting = false;
    for (;;) {
      const outcome = this.tryLock(waiting);
      if (outcome) return outcome;
      if (performance.now() >= deadline) throw timeoutError('futex', this.what, timeoutMs);
      const expected = this.#announceWaiter();
      if (expected !== 0) yield { index: this.index, expected, timeoutMs: sliceMs(deadline) };
      waiting = true; // others may sleep too: keep the waiters bit when we take it
    }
  }

  /** Blocks this thread until the lock is ours (or `timeoutMs` passes: ETIMEDOUT). */
  lockSync(timeoutMs: number): LockOutcome {
    return runSleepsSync(this.words, this.lockSteps(timeoutMs));
  }

  /** Like lockSync, without blocking the event loop. */
  lock(options: WaitOptions): Promise<LockOutcome> {
    return runSleeps(this.words, this.lockSteps(options.timeoutMs ?? -1), options);
  }

  /**
   * Releases the lock and wakes one sleeper if any.
   * @throws `EPERM` if this process does not own it.
   */
  unlock(): void {
    const seen = Atomics.load(this.words, this.index);
    if ((seen & OWNER_MASK) !== this.#pid) {
      throw systemError('EPERM', 'futex', this.what, 'unlock of a lock this process does not hold');
    }
    // Clear the record first: once the word is free, a record naming us
    // would outlive our hold and could be taken for a later owner's.
    Atomics.store(this.#record, 0, 0n);
    if (Atomics.exchange(this.words, this.index, 0) & WAITERS_BIT) wakeWord(this.words, this.index, 1);
  }

  /** After a CAS made the word ours: say which process holds it. */
  #claim(): void {
    Atomics.store(this.#record, 0, ownRecord());
  }

  /**
   * Whether the owner named by lock word `seen` is dead, so its lock may be
   * taken over: its pid is dead, or it lives but the record shows that the
   * process that locked is another one, gone since (its pid reused). Only a
   * record naming that pid counts. The record is read before /proc and must
   * be unchanged after it: then its writer held the lock all along, and was
   * gone when /proc was read, rather than unlocking and exiting in between.
   */
  #ownerGone(seen: number): boolean {
    const owner = seen & OWNER_MASK;
    if (owner === this.#pid) return false;
    const record = Atomics.load(this.#record, 0);
    const life = processLife(owner);
    if (!life.alive) return true;
    if (record === 0n || Number(record & 0xffffffffn) !== owner) return false; // unknown: the pid decides
    if (life.startTicks === undefined) return false; // /proc cannot tell
    if (life.startTicks % TICKS_MODULUS === Number(record >> 32n)) return false;
    return Atomics.load(this.#record, 0) === record;
  }

  /** Marks the lock as wanted; returns the value to sleep on, or 0 if it became free. */
  #announceWaiter(): number {
    for (;;) {
      const seen = Atomics.load(this.words, this.index);
      if (seen === 0) return 0;
      const wanted = seen | WAITERS_BIT;
      if (seen === wanted || Atomics.compareExchange(this.words, this.index, seen, wanted) === seen) return wanted;
    }
  }
}

/** The next sleep: at most one liveness slice, never past the deadline. */
function sliceMs(deadline: number): number {
  const left = remainingMs(deadline);
  return left < 0 ? LIVENESS_SLICE_MS : Math.min(LIVENESS_SLICE_MS, left);
}
