/**
 * Learning that another process has died, without polling: a process
 * descriptor (pidfd_open(2)) polls readable once the process terminates, and
 * shmkit's poll thread waits on every watched descriptor at once (the same
 * thread as POSIX message queue waits; docs/api.md, "Wait options"). A
 * recorded start time (core/processes.ts) makes a recycled pid count as the
 * death of the process that had it. Where pidfd_open is missing (Linux < 5.3,
 * or refused by a seccomp filter), the watch checks /proc every
 * `fallbackIntervalMs` instead (SHMKIT_NO_PIDFD=1 forces that, for testing).
 */
import { binding, type NativePidfd } from '../core/binding.js';
import { ClosedError, useAfterClose } from '../core/errors.js';
import { abortError, PendingWaits } from '../core/pending.js';
import { processLife } from '../core/processes.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateOptions } from '../core/validate.js';

/** Options of {@link ProcessWatch.open}. */
export interface ProcessWatchOptions {
  /**
   * The process's start time as recorded when it was met (processStartTicks,
   * clock ticks since boot, from /proc/PID/stat): a process with this pid but
   * another start time is another process, so the one watched is dead.
   */
  startTicks?: number;
  /** Where pidfd_open is missing: how often /proc is checked, in ms (default 100). */
  fallbackIntervalMs?: number;
}

/** Options of {@link ProcessWatch.exit}. */
export interface ProcessExitOptions {
  /** Stops waiting (rejects with an AbortError); the process is still watched. */
  signal?: AbortSignal;
  /** Whether the wait keeps the event loop alive (default false: a watch is a background concern). */
  ref?: boolean;
}

/**
 * A watch on one process's exit.
 * ```ts
 * const watch = ProcessWatch.open(pid, { startTicks });
 * await watch.exit(); // resolves once the process has terminated
 * watch.close();
 * ```
 * Errors: `ERR_SHMKIT_CLOSED` after close(); RangeError for a bad pid.
 */
export class ProcessWatch {
  /** The pid watched. */
  readonly pid: number;
  #fd: NativePidfd | undefined;
  #gone = false; // dead when opened (no such process, or another start time)
  readonly #intervalMs: number;
  readonly #pending = new PendingWaits();
  /** The fallback's pending exit() waits: each one's close. */
  readonly #polls = new Set<(error: Error) => void>();
  #closed = false;

  private constructor(pid: number, intervalMs: number) {
    this.pid = pid;
    this.#intervalMs = intervalMs;
  }

  /**
   * Starts watching process `pid` (pidfd_open(2), else /proc checks). A pid
   * with no process, or whose process started at another time than
   * `startTicks`, is watched as already dead.
   * @throws RangeError for a pid that is not an integer in [1, 4194304].
   */
  static open(pid: number, options?: ProcessWatchOptions): ProcessWatch {
    validateInteger(pid, 'pid', 1, 4194304);
    const opts = validateOptions(options);
    if (opts.startTicks !== undefined)
      validateInteger(opts.startTicks, 'options.startTicks', 0, Number.MAX_SAFE_INTEGER);
    const intervalMs =
      opts.fallbackIntervalMs === undefined
        ? 100
        : validateInteger(opts.fallbackIntervalMs, 'options.fallbackIntervalMs', 1, 60_000);
    const watch = new ProcessWatch(pid, intervalMs);
    try {
      // binding.pidfd is Linux-only: elsewhere the fallback serves
      // (SHMKIT_NO_PIDFD=1 forces it, for its tests).
      if (binding.pidfd && process.env.SHMKIT_NO_PIDFD !== '1') watch.#fd = new binding.pidfd.Handle(pid);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') watch.#gone = true;
      else if (code !== 'ENOSYS' && code !== 'EPERM') throw error;
    }
    // Checked after pidfd_open: a descriptor opened on a recycled pid would
    // watch the newcomer, so the start time must be that of the watched one.
    if (!watch.#gone && !watch.#sameProcess(opts.startTicks)) watch.#gone = true;
    if (watch.#gone) watch.#dropFd();
    return watch;
  }

  /** Whether the process has terminated. */
  get exited(): boolean {
    this.#live();
    if (this.#gone) return true;
    return this.#fd ? this.#fd.exited() : !processLife(this.pid).alive;
  }

  /**
   * Resolves once the process has terminated (at once if it has).
   * @throws (rejects) an AbortError on `options.signal`; `ERR_SHMKIT_CLOSED` when the watch is closed.
   */
  exit(options?: ProcessExitOptions): Promise<void> {
    this.#live();
    const opts = validateOptions(options);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const ref = opts.ref === undefined ? false : validateBoolean(opts.ref, 'options.ref');
    if (this.exited) return Promise.resolve();
    const fd = this.#fd;
    if (fd) {
      return this.#pending.start(
        (timeoutMs, keep, callback) => fd.waitAsync(timeoutMs, keep, callback),
        { signal, ref },
        () => undefined,
      );
    }
    return this.#pollExit(signal, ref);
  }

  /** Stops watching; pending exit() waits reject with `ERR_SHMKIT_CLOSED`. Safe twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending.rejectAll(new ClosedError(this.#what));
    for (const stop of [...this.#polls]) stop(new ClosedError(this.#what));
    this.#dropFd();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #sameProcess(startTicks: number | undefined): boolean {
    const life = processLife(this.pid);
    if (!life.alive) return false;
    return startTicks === undefined || life.startTicks === undefined || life.startTicks === startTicks;
  }

  #dropFd(): void {
    this.#fd?.close();
    this.#fd = undefined;
  }

  /** The fallback: /proc every #intervalMs. */
  #pollExit(signal: AbortSignal | undefined, ref: boolean): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const end = (error?: Error) => {
        clearInterval(timer);
        this.#polls.delete(end);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => end(abortError(signal as AbortSignal));
      const timer = setInterval(() => {
        if (!processLife(this.pid).alive) end();
      }, this.#intervalMs);
      if (!ref) timer.unref();
      this.#polls.add(end);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #live(): void {
    if (this.#closed) throw useAfterClose(this.#what);
  }

  get #what(): string {
    return `ProcessWatch(pid ${this.pid})`;
  }
}
