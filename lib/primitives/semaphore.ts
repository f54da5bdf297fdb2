/**
 * POSIX named semaphores: sem_open(3), sem_post(3), sem_trywait(3),
 * sem_clockwait(3), sem_getvalue(3), sem_close(3), sem_unlink(3).
 * See {@link Semaphore}.
 */
import type { NativeSemaphore, OpenMode } from '../core/binding.js';
import { binding } from '../core/binding.js';
import { ClosedError, timeoutError, useAfterClose } from '../core/errors.js';
import { NAME_MAX, posixName } from '../core/names.js';
import {
  PendingWaits,
  parseWaitOptions,
  parseWaitSyncOptions,
  type WaitOptions,
  type WaitSyncOptions,
} from '../core/pending.js';
import { validateInteger, validateMode, validateOptions } from '../core/validate.js';

/** SEM_VALUE_MAX on Linux. */
export const SEM_VALUE_MAX = 2147483647;
// sem_open prefixes "sem." to the name in /dev/shm.
const SEM_NAME_MAX = NAME_MAX - 4;

export interface SemaphoreCreateOptions {
  /** Initial value (default 0, at most SEM_VALUE_MAX). */
  value?: number;
  /** Permission bits for a new semaphore (default 0o600), masked by the umask. */
  mode?: number;
}

/** @deprecated Use {@link WaitOptions}. */
export type SemaphoreWaitOptions = WaitOptions;

function semName(name: unknown): string {
  return posixName(name, 'name', SEM_NAME_MAX);
}

/**
 * A POSIX named semaphore (sem_open(3), sem_overview(7)): a counter from 0 to
 * {@link SEM_VALUE_MAX} that any process can post (add one) and wait on
 * (take one, sleeping while it is 0). On Linux it lives in /dev/shm as
 * "sem.NAME". Timed waits use sem_clockwait(3) on CLOCK_MONOTONIC, in
 * milliseconds; async waits sleep on a thread of shmkit's own, never the
 * event loop or libuv's pool.
 *
 * Errors: system errors carry `code` (`EEXIST`, `ENOENT`, `EACCES`,
 * `EOVERFLOW`, `ETIMEDOUT`, …), `errno`, `syscall` and `objectName` (the
 * semaphore's name); a method called after close(), or a wait pending at
 * close(), throws/rejects with a `ClosedError` (`ERR_SHMKIT_CLOSED`); bad
 * arguments throw TypeError/RangeError before any system call.
 */
export class Semaphore implements Disposable {
  /** The POSIX name, with its leading '/'. */
  readonly name: string;
  /** Whether this call created the semaphore. */
  readonly created: boolean;
  #handle: NativeSemaphore | undefined;
  readonly #pending = new PendingWaits(); // native wait errors name the semaphore already

  private constructor(name: string, handle: NativeSemaphore) {
    this.name = name;
    this.created = handle.created;
    this.#handle = handle;
  }

  /**
   * Creates a new semaphore (O_CREAT|O_EXCL).
   * @throws `EEXIST` if one of that name exists; `EACCES`; `EINVAL` from sem_open(3).
   */
  static create(name: string, options?: SemaphoreCreateOptions): Semaphore {
    return Semaphore.#make(name, 'create', options);
  }

  /**
   * Opens an existing semaphore.
   * @throws `ENOENT` if there is none; `EACCES` if its mode forbids it.
   */
  static open(name: string): Semaphore {
    return Semaphore.#make(name, 'open', undefined);
  }

  /** Opens the semaphore, creating it with `value` if it does not exist. */
  static openOrCreate(name: string, options?: SemaphoreCreateOptions): Semaphore {
    return Semaphore.#make(name, 'openOrCreate', options);
  }

  /**
   * Removes the name (sem_unlink(3)); open handles keep working.
   * @throws `ENOENT` if there is no such semaphore.
   */
  static unlink(name: string): void {
    const fullName = semName(name);
    binding.semaphore.unlink(fullName);
  }

  static #make(name: string, openMode: OpenMode, options: SemaphoreCreateOptions | undefined): Semaphore {
    const fullName = semName(name);
    const opts = validateOptions(options);
    const value = opts.value === undefined ? 0 : validateInteger(opts.value, 'options.value', 0, SEM_VALUE_MAX);
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    return new Semaphore(fullName, new binding.semaphore.Handle(fullName, openMode, mode, value));
  }

  /**
   * Adds one to the value, waking one waiter (sem_post(3)).
   * @throws `EOVERFLOW` past SEM_VALUE_MAX.
   */
  post(): void {
    const handle = this.#live();
    handle.post();
  }

  /** Takes one if the value is above zero; never waits (sem_trywait(3)). */
  tryWait(): boolean {
    const handle = this.#live();
    return handle.tryWait();
  }

  /**
   * Blocks this thread until it can take one — for workers, scripts and labs;
   * on the main thread prefer {@link Semaphore.wait}.
   * @throws `ETIMEDOUT` when `timeoutMs` runs out.
   */
  waitSync(options?: WaitSyncOptions): void {
    const timeoutMs = parseWaitSyncOptions(options);
    const handle = this.#live();
    if (handle.waitSync(timeoutMs) === 'timed-out') {
      throw timeoutError('sem_clockwait', this.name, timeoutMs);
    }
  }

  /**
   * Waits, without blocking the event loop or a libuv pool thread, until it
   * can take one. The wait sleeps on a thread of shmkit's own.
   * @throws (rejects) `ETIMEDOUT` when `timeoutMs` runs out; an `AbortError`
   * when `signal` aborts; `ERR_SHMKIT_CLOSED` when the handle is closed first.
   */
  async wait(options?: WaitOptions): Promise<void> {
    const opts = parseWaitOptions(options);
    const handle = this.#live();
    return this.#pending.start(
      (timeoutMs, ref, callback) => handle.waitAsync(timeoutMs, ref, callback),
      opts,
      (result, timeoutMs) => {
        if (result === 'timed-out') throw timeoutError('sem_clockwait', this.name, timeoutMs);
      },
    );
  }

  /** The current value (sem_getvalue(3)); 0 while waiters sleep. */
  get value(): number {
    const handle = this.#live();
    return handle.value();
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#handle === undefined;
  }

  /**
   * Releases this handle (sem_close(3)); safe to call twice. Pending waits of
   * this handle reject with `ERR_SHMKIT_CLOSED`. The semaphore stays (see unlink()).
   */
  close(): void {
    if (!this.#handle) return;
    this.#pending.rejectAll(new ClosedError(`Semaphore '${this.name}'`));
    this.#handle.close();
    this.#handle = undefined;
  }

  /** Removes the semaphore's name (sem_unlink(3)). */
  unlink(): void {
    Semaphore.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(): NativeSemaphore {
    if (!this.#handle) throw useAfterClose(`Semaphore '${this.name}'`);
    return this.#handle;
  }
}
