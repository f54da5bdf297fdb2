/**
 * The options every wait takes ({@link WaitSyncOptions}, {@link WaitOptions})
 * and their one parser each, and {@link PendingWaits}, which turns a native
 * async wait into a Promise that honours `timeoutMs`, an AbortSignal, and
 * close() of the handle it belongs to.
 */
import type { NativeWaitResult, WaitCallback } from './binding.js';
import { binding } from './binding.js';
import { AbortError } from './errors.js';
import { validateAbortSignal, validateBoolean, validateOptions, validateTimeoutMs } from './validate.js';

/** Options every blocking (…Sync) wait accepts. */
export interface WaitSyncOptions {
  /** Give up after this many milliseconds (default: no timeout): `ETIMEDOUT`. */
  timeoutMs?: number;
}

/** Options every async wait accepts. */
export interface WaitOptions extends WaitSyncOptions {
  /** Cancels the wait: the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * Whether the pending wait keeps the process alive, like a ref'd timer
   * (default true). With `ref: false` the process may exit while it waits.
   */
  ref?: boolean;
}

/**
 * The timeout of a blocking wait's options, in the native convention:
 * milliseconds, or -1 for none.
 * @throws TypeError/RangeError naming `options.timeoutMs`.
 */
export function parseWaitSyncOptions(options: WaitSyncOptions | undefined): number {
  if (options === undefined) return -1; // the hot path of a ring's pushSync/popSync: nothing to check
  return validateTimeoutMs(validateOptions(options).timeoutMs, 'options.timeoutMs');
}

/**
 * Checks an async wait's options up front (before any fast-path syscall);
 * returns them, `{}` for undefined.
 * @throws TypeError/RangeError naming the bad option.
 */
export function parseWaitOptions<T extends WaitOptions>(options: T | undefined): Partial<T> {
  const opts = validateOptions(options);
  validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs');
  validateAbortSignal(opts.signal, 'options.signal');
  if (opts.ref !== undefined) validateBoolean(opts.ref, 'options.ref');
  return opts;
}

/** Starts the native wait; returns its id. */
export type BeginWait = (timeoutMs: number, ref: boolean, callback: WaitCallback) => number;

interface Pending {
  cancel(error: Error): void;
}

/** The AbortError of an aborted `signal` (its reason as the cause). */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/** The pending async waits of one handle, so that close() can reject them. */
export class PendingWaits {
  readonly #waits = new Set<Pending>();
  readonly #explain: (error: Error) => Error;

  /** @param explain turns a native wait's error into the one users see (say, with the object's name). */
  constructor(explain: (error: Error) => Error = (error) => error) {
    this.#explain = explain;
  }

  get size(): number {
    return this.#waits.size;
  }

  /**
   * Runs `begin` and settles with `settle(result)`; rejects with the native
   * error, an AbortError, or what rejectAll() is given.
   */
  start<T>(
    begin: BeginWait,
    options: WaitOptions,
    settle: (result: NativeWaitResult, timeoutMs: number) => T,
  ): Promise<T> {
    const timeoutMs = validateTimeoutMs(options.timeoutMs, 'options.timeoutMs');
    const signal = validateAbortSignal(options.signal, 'options.signal');
    const ref = options.ref === undefined ? true : validateBoolean(options.ref, 'options.ref');
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T>((resolve, reject) => {
      const finish = () => {
        this.#waits.delete(pending);
        signal?.removeEventListener('abort', onAbort);
      };
      const pending: Pending = {
        cancel: (error) => {
          binding.waiter.cancel(id);
          finish();
          reject(error);
        },
      };
      const onAbort = () => pending.cancel(abortError(signal as AbortSignal));
      const id = begin(timeoutMs, ref, (error, result) => {
        finish();
        if (error) return reject(this.#explain(error));
        try {
          resolve(settle(result as NativeWaitResult, options.timeoutMs ?? Number.POSITIVE_INFINITY));
        } catch (settleError) {
          reject(settleError);
        }
      });
      this.#waits.add(pending);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Rejects every pending wait with `error` (used by close()). */
  rejectAll(error: Error): void {
    for (const pending of [...this.#waits]) pending.cancel(error);
  }
}

/** @deprecated RingBuffer's and TypedQueue's name for {@link WaitSyncOptions}; use that. */
export type SyncWaitOptions = WaitSyncOptions;
