/**
 * Mutex: a robust process-shared lock in a small shm object of its own.
 * See {@link Mutex}; the lock itself is lib/structures/lock-word.ts.
 */
import { codedError, systemError, useAfterClose } from '../core/errors.js';
import { NAME_MAX, posixName } from '../core/names.js';
import { parseWaitOptions, parseWaitSyncOptions, type WaitOptions, type WaitSyncOptions } from '../core/pending.js';
import { validateFunction, validateMode, validateOptions, validateTimeoutMs } from '../core/validate.js';
import { SharedMemory } from '../primitives/shm.js';
import { type LockOutcome, LockWord } from './lock-word.js';

const MUTEX_MAGIC = 0x584d4d53; // 'SMMX' little-endian
const MUTEX_VERSION = 1;
const MUTEX_BYTES = 128;
// The lock word has a cache line of its own; its owner record (pid + start
// ticks, lock-word.ts) is the u64 at 72, in bytes version 1 left zero: older
// shmkit versions ignore it, and a zero record means "unknown".
const LOCK_OFFSET = 64;

export interface MutexCreateOptions {
  /** Permission bits (default 0o600), masked by the umask. */
  mode?: number;
}

/** @deprecated Use {@link WaitSyncOptions}. */
export type LockSyncOptions = WaitSyncOptions;

/** Proof of holding the lock; `using guard = mutex.lockSync()` unlocks at scope end. */
export interface MutexGuard extends Disposable {
  /** The previous owner died holding the lock: what it guarded may be half-updated. */
  readonly ownerDied: boolean;
  unlock(): void;
}

function mutexError(name: string, detail: string): Error & { code: string } {
  return codedError('ERR_SHMKIT_MUTEX_FORMAT', `'${name}' is ${detail}`);
}

const NOT_A_MUTEX = 'not a shmkit mutex: open it as what it is, or give the mutex another name';

/**
 * A robust process-shared mutex (futex(2) on a word that records the owner's
 * pid, beside a record of its start time, so a reused pid does not pass for
 * the dead owner) in a 128-byte shm object of its own (shm_open(3), named like any POSIX
 * object). If the owner dies holding it, the next locker takes it over and is
 * told (`ownerDied`) instead of hanging. Ownership is per process. The same
 * lock guards multi-producer and multi-consumer RingBuffers. Timeouts are in
 * milliseconds; async waits never block the event loop.
 *
 * Errors: `EEXIST`/`ENOENT`/`EACCES` from shm_open(3) (with `objectName`);
 * `ERR_SHMKIT_MUTEX_FORMAT` when the object is not a shmkit mutex; `EDEADLK`
 * locking a mutex this handle holds; `EPERM` unlocking one it does not;
 * `ETIMEDOUT`; an `AbortError`; a method called after close(), or a lock
 * pending at close(), throws/rejects with a `ClosedError` (`ERR_SHMKIT_CLOSED`).
 */
export class Mutex implements Disposable {
  /** The POSIX name of its shm object, with its leading '/'. */
  readonly name: string;
  readonly #shm: SharedMemory;
  readonly #lock: LockWord;
  #held = false;
  #generation = 0; // which acquisition a guard belongs to

  private constructor(shm: SharedMemory) {
    this.name = shm.name;
    this.#shm = shm;
    this.#lock = new LockWord(shm.buffer, LOCK_OFFSET, shm.name);
  }

  /** Creates the mutex (unlocked). @throws `EEXIST` */
  static create(name: string, options?: MutexCreateOptions): Mutex {
    const opts = validateOptions(options);
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const shm = SharedMemory.create(posixName(name, 'name', NAME_MAX), { size: MUTEX_BYTES, mode });
    const words = new Int32Array(shm.buffer);
    words[1] = MUTEX_VERSION;
    Atomics.store(words, 0, MUTEX_MAGIC); // last: the object is a mutex from now on
    return new Mutex(shm);
  }

  /** Opens an existing mutex. @throws `ENOENT`; `ERR_SHMKIT_MUTEX_FORMAT` if it is not one */
  static open(name: string): Mutex {
    const shm = SharedMemory.open(posixName(name, 'name', NAME_MAX));
    try {
      if (shm.size < MUTEX_BYTES) {
        throw mutexError(
          shm.name,
          `a shared-memory segment of ${shm.size} bytes (a mutex has ${MUTEX_BYTES}), ${NOT_A_MUTEX}`,
        );
      }
      const words = new Int32Array(shm.buffer);
      if (Atomics.load(words, 0) !== MUTEX_MAGIC) {
        throw mutexError(shm.name, `a plain shared-memory segment or another kind of shmkit object, ${NOT_A_MUTEX}`);
      }
      if (words[1] !== MUTEX_VERSION) {
        throw mutexError(
          shm.name,
          `a shmkit mutex of format version ${words[1]}, which this shmkit (version ${MUTEX_VERSION}) cannot use: ` +
            'use one shmkit version in every process',
        );
      }
    } catch (error) {
      shm.close();
      throw error;
    }
    return new Mutex(shm);
  }

  /** Opens the mutex, creating it if it does not exist. */
  static openOrCreate(name: string, options?: MutexCreateOptions): Mutex {
    try {
      return Mutex.create(name, options);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return Mutex.open(name);
    }
  }

  /** Removes the mutex's name (shm_unlink(3)). */
  static unlink(name: string): void {
    SharedMemory.unlink(posixName(name, 'name', NAME_MAX));
  }

  /** Takes the lock if it is free (or its owner is dead); never waits. */
  tryLock(): MutexGuard | undefined {
    this.#checkNotHeld();
    const outcome = this.#lock.tryLock();
    return outcome && this.#guard(outcome);
  }

  /**
   * Blocks this thread until the lock is ours.
   * @throws `ETIMEDOUT` after `timeoutMs`; `EDEADLK` if this handle holds it already.
   */
  lockSync(options?: WaitSyncOptions): MutexGuard {
    const timeoutMs = parseWaitSyncOptions(options);
    this.#checkNotHeld();
    return this.#guard(this.#lock.lockSync(timeoutMs));
  }

  /**
   * Waits for the lock without blocking the event loop.
   * @throws (rejects) `ETIMEDOUT`, an `AbortError`, `EDEADLK`, `ERR_SHMKIT_CLOSED`.
   */
  async lock(options?: WaitOptions): Promise<MutexGuard> {
    const opts = parseWaitOptions(options);
    const timeoutMs = validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs');
    this.#checkNotHeld();
    const outcome = await this.#lock.lock({ ...opts, timeoutMs });
    return this.#guard(outcome);
  }

  /**
   * Releases the lock, waking one waiter.
   * @throws `EPERM` if this handle does not hold it.
   */
  unlock(): void {
    this.#check();
    if (!this.#held) throw systemError('EPERM', 'futex', this.name, 'unlock of a mutex this handle does not hold');
    // Not ours any more either way (EPERM: another process took it over).
    this.#held = false;
    this.#lock.unlock();
  }

  /** Runs `fn` (sync or async) holding the lock; unlocks afterwards, also when it throws. */
  async withLock<R>(fn: (guard: MutexGuard) => R | Promise<R>, options?: WaitOptions): Promise<R> {
    validateFunction(fn, 'fn');
    const guard = await this.lock(options);
    try {
      return await fn(guard);
    } finally {
      guard.unlock();
    }
  }

  /** Whether this handle holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#shm.closed;
  }

  /** Unmaps this handle (unlocking first if it holds the lock); safe twice. */
  close(): void {
    if (this.#shm.closed) return;
    try {
      if (this.#held) this.unlock();
    } finally {
      this.#shm.close(); // close, even if the lock had been taken from us
    }
  }

  /** Removes the mutex's name. */
  unlink(): void {
    Mutex.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(): void {
    if (this.#shm.closed) throw useAfterClose(`Mutex '${this.name}'`);
  }

  #checkNotHeld(): void {
    this.#check();
    if (this.#held) {
      throw systemError('EDEADLK', 'futex', this.name, 'this handle already holds the mutex');
    }
  }

  #guard(outcome: LockOutcome): MutexGuard {
    this.#held = true;
    const generation = ++this.#generation;
    // A guard unlocks only its own acquisition, once: disposing it after an
    // explicit unlock() (or a later lock) does nothing.
    const unlock = () => {
      if (this.#held && generation === this.#generation && !this.#shm.closed) this.unlock();
    };
    return { ownerDied: outcome.ownerDied, unlock, [Symbol.dispose]: unlock };
  }
}
