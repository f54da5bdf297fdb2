/**
 * System V semaphore sets: semget(2), semop(2)/semtimedop(2), semctl(2). See
 * {@link SysvSemaphoreSet}.
 */
import fs from 'node:fs';
import { binding, requireCapability } from '../core/binding.js';
import { ClosedError, timeoutError, useAfterClose } from '../core/errors.js';
import {
  PendingWaits,
  parseWaitOptions,
  parseWaitSyncOptions,
  type WaitOptions,
  type WaitSyncOptions,
} from '../core/pending.js';
import { rangeError, typeError, validateBoolean, validateInteger, validateMode } from '../core/validate.js';
import {
  explainRemoved,
  IPC_PRIVATE,
  isGone,
  SYSV_ID_MAX,
  secondsToMs,
  validateKey,
  validateOpenKey,
} from './sysv-ipc.js';

/** The largest value a System V semaphore holds (SEMVMX). */
export const SEMVMX = 32767;
// sem_op is a C short.
const SEM_OP_MIN = -32768;
const SEM_OP_MAX = 32767;
// <sys/sem.h> and <sys/ipc.h> flags, as the kernel defines them on Linux.
const IPC_NOWAIT = 0o4000;
const SEM_UNDO = 0x1000;

function requireSysvSem(): void {
  requireCapability('sysvSem', 'System V semaphore sets are');
}

let limits: { semmsl: number; semopm: number } | undefined;

/**
 * kernel.sem: SEMMSL (semaphores per set) and SEMOPM (operations per semop),
 * read once and again only when a check against them would fail (a sysctl
 * may have raised them since).
 */
function semLimits(need?: { semmsl?: number; semopm?: number }): { semmsl: number; semopm: number } {
  const stale = limits === undefined || (need?.semmsl ?? 0) > limits.semmsl || (need?.semopm ?? 0) > limits.semopm;
  if (stale) limits = readSemLimits();
  return limits as { semmsl: number; semopm: number };
}

function readSemLimits(): { semmsl: number; semopm: number } {
  try {
    const [semmsl, , semopm] = fs.readFileSync('/proc/sys/kernel/sem', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(semmsl) && Number.isInteger(semopm))
      return { semmsl, semopm } as { semmsl: number; semopm: number };
  } catch {
    // not Linux, or /proc not mounted: the kernel's defaults
  }
  return { semmsl: 32000, semopm: 500 };
}

export interface SysvSemaphoreSetCreateOptions {
  /** How many semaphores the set holds, 1 to kernel.sem's SEMMSL. */
  count: number;
  /** Permission bits (default 0o600). */
  mode?: number;
  /**
   * Initial values (default 0): one number for every semaphore, or one per
   * semaphore. Set with SETALL right after semget, so a peer that opens the
   * set in between sees zeros (System V's classic race: `stat().otime` stays
   * 0 until the first semop).
   */
  initial?: number | readonly number[];
}

/** One operation of an atomic {@link SysvSemaphoreSet.op} (a struct sembuf). */
export interface SysvSemaphoreOp {
  /** Which semaphore of the set, 0 to count - 1. */
  index: number;
  /**
   * What to do (sem_op, a C short: -32768 to 32767): > 0 adds, < 0 takes
   * that many units (waiting until the value is large enough), 0 waits until
   * the value is zero.
   */
  delta: number;
  /**
   * SEM_UNDO: the kernel records the change and reverses it when this
   * process exits, however it exits (kill -9 included). So a unit taken with
   * `undo: true` comes back if its holder dies; one given back later must be
   * given back with `undo: true` too, or the exit would give it twice.
   */
  undo?: boolean;
  /** IPC_NOWAIT: if this operation cannot proceed, fail at once with `EAGAIN` instead of waiting. */
  noWait?: boolean;
}

/** What semctl(2) IPC_STAT says of a set. Times are ms since the epoch, 0 for "never". */
export interface SysvSemaphoreSetStat {
  /** The set's id (semid), as `ipcs -s` shows it. */
  id: number;
  /** Its key (0 for IPC_PRIVATE). */
  key: number;
  /** How many semaphores it holds (sem_nsems). */
  count: number;
  /** Time of the last semop (sem_otime), in ms since the epoch; 0 before the first. */
  otime: number;
  /** Time of the last change (creation, SETVAL/SETALL, IPC_SET), in ms since the epoch. */
  ctime: number;
  /** Permission bits. */
  mode: number;
  /** Owner's and creator's uid and gid. */
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
}

/**
 * A System V semaphore set (semget(2), sysvipc(7)): `count` semaphores,
 * each a value 0 to {@link SEMVMX}, named by a numeric key (often from
 * `ftok`) or private to its id ({@link IPC_PRIVATE}). It lives until it is
 * removed (`ipcs -s` lists it).
 *
 * {@link SysvSemaphoreSet.op} applies several operations atomically: all
 * of them happen at once or none does (semop(2)), so two resources are taken
 * together or not at all, with no deadlock between processes taking them in
 * different orders. An operation with `undo: true` (SEM_UNDO) is reversed by
 * the kernel when the process exits, so a unit held by a process that dies
 * comes back.
 *
 * The async op() waits in semtimedop(2) on one of shmkit's waiter threads
 * (the capped blocking pool, never libuv's threadpool, at most
 * SHMKIT_MAX_BLOCKING_WAITERS pending at once: one more rejects with
 * `ERR_SHMKIT_TOO_MANY_WAITS`), in slices of 100 ms so that timeouts (ms)
 * and cancellation are honoured. An op aborted just as it succeeded is
 * reversed (best effort: a unit it added that a peer took meanwhile stays taken).
 *
 * Errors: system errors carry `code`, `errno`, `syscall` and `objectName`
 * ('semid 42', or 'key 0x…' from semget). A set removed while an op waits
 * rejects it with `EIDRM`, and every later call throws `EIDRM` (even where
 * the kernel says EINVAL). Bad arguments (an index out of range, a delta
 * that is not a short) throw TypeError/RangeError before any system call; a
 * method called after close(), or an op pending at close(), throws/rejects
 * with a `ClosedError`.
 */
export class SysvSemaphoreSet implements Disposable {
  /** The kernel's set id (semid), as `ipcs -s` shows it. */
  readonly id: number;
  /** The key it was created or opened with (0 for IPC_PRIVATE or {@link SysvSemaphoreSet.fromId}). */
  readonly key: number;
  /** Whether this call created the set. */
  readonly created: boolean;
  /** How many semaphores the set holds. */
  readonly count: number;
  #closed = false;
  readonly #pending = new PendingWaits((error) => this.#explain(error) as Error);

  private constructor(id: number, key: number, created: boolean, count: number) {
    this.id = id;
    this.key = key;
    this.created = created;
    this.count = count;
  }

  /**
   * Creates a set of `count` semaphores (semget(2) with IPC_CREAT|IPC_EXCL,
   * or IPC_PRIVATE for a set with no key), then sets their initial values.
   * @param key a key_t (say, from `ftok`), or {@link IPC_PRIVATE}.
   * @throws `EEXIST` if the key has a set; `ENOSPC` past kernel.sem's SEMMNI/SEMMNS; `EACCES`.
   */
  static create(key: number, options: SysvSemaphoreSetCreateOptions): SysvSemaphoreSet {
    requireSysvSem();
    const k = validateKey(key, 'key');
    if (options === null || typeof options !== 'object') throw typeError('options', 'an object', options);
    const count = validateInteger(
      options.count,
      'options.count',
      1,
      semLimits({ semmsl: typeof options.count === 'number' ? options.count : 0 }).semmsl,
    );
    const mode = options.mode === undefined ? 0o600 : validateMode(options.mode, 'options.mode');
    const initial = parseInitial(options.initial, count);
    const { id, created } = binding.sysvSem.get(k, k === IPC_PRIVATE ? 'private' : 'create', count, mode);
    const set = new SysvSemaphoreSet(id, k, created, count);
    if (initial.some((value) => value !== 0)) {
      try {
        binding.sysvSem.setAll(id, Int32Array.from(initial));
      } catch (error) {
        binding.sysvSem.remove(id); // ours and half-made: leave nothing behind
        throw error;
      }
    }
    return set;
  }

  /**
   * Opens the set of `key` (semget(2) without IPC_CREAT).
   * @throws `ENOENT` if there is none; `EACCES` if its mode forbids it.
   */
  static open(key: number): SysvSemaphoreSet {
    requireSysvSem();
    const k = validateOpenKey(key, 'key');
    const { id } = binding.sysvSem.get(k, 'open', 0, 0);
    return new SysvSemaphoreSet(id, k, false, SysvSemaphoreSet.#countOf(id));
  }

  /**
   * Uses a set by its id (an IPC_PRIVATE set's id passed to a child, or one `ipcs -s` shows).
   * @throws `EIDRM` if no set has this id; `EACCES` without read permission.
   */
  static fromId(id: number): SysvSemaphoreSet {
    requireSysvSem();
    validateInteger(id, 'id', 0, SYSV_ID_MAX);
    return new SysvSemaphoreSet(id, 0, false, SysvSemaphoreSet.#countOf(id));
  }

  static #countOf(id: number): number {
    try {
      return binding.sysvSem.stat(id).count;
    } catch (error) {
      throw explainRemoved(error, `semid ${id}`, () => isGone(() => binding.sysvSem.stat(id)), 'set');
    }
  }

  #subject(): string {
    return `semid ${this.id}`;
  }

  #live(): number {
    if (this.#closed) throw useAfterClose(`SysvSemaphoreSet ${this.#subject()}`);
    return this.id;
  }

  #explain(error: unknown): unknown {
    const id = this.id;
    return explainRemoved(error, this.#subject(), () => isGone(() => binding.sysvSem.stat(id)), 'set');
  }

  #call<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      throw this.#explain(error);
    }
  }

  #index(value: unknown, name = 'index'): number {
    return validateInteger(value, name, 0, this.count - 1);
  }

  /** `ops` as (index, delta, flags) triples, checked against this set. */
  #ops(ops: unknown, extraFlags = 0): Int32Array {
    if (!Array.isArray(ops)) throw typeError('ops', 'an array of { index, delta, undo?, noWait? }', ops);
    const { semopm } = semLimits({ semopm: ops.length });
    if (ops.length < 1 || ops.length > semopm) {
      throw rangeError('ops', `1 to ${semopm} operations (kernel.sem's SEMOPM)`, ops.length);
    }
    const triples = new Int32Array(ops.length * 3);
    ops.forEach((op: unknown, i) => {
      const name = `ops[${i}]`;
      if (op === null || typeof op !== 'object')
        throw typeError(name, 'an object { index, delta, undo?, noWait? }', op);
      const { index, delta, undo, noWait } = op as Partial<SysvSemaphoreOp>;
      triples[i * 3] = this.#index(index, `${name}.index`);
      triples[i * 3 + 1] = validateInteger(delta, `${name}.delta`, SEM_OP_MIN, SEM_OP_MAX);
      let flags = extraFlags;
      if (undo !== undefined && validateBoolean(undo, `${name}.undo`)) flags |= SEM_UNDO;
      if (noWait !== undefined && validateBoolean(noWait, `${name}.noWait`)) flags |= IPC_NOWAIT;
      triples[i * 3 + 2] = flags;
    });
    return triples;
  }

  /**
   * Applies `ops` atomically if all of them can proceed now (semop(2) with
   * IPC_NOWAIT on each).
   * @returns false if one of them would have to wait (EAGAIN): none was applied.
   * @throws RangeError for an index or delta out of range; `EIDRM` if removed; `EACCES`;
   *   `ERANGE` if a value would exceed SEMVMX; `E2BIG` over SEMOPM.
   */
  tryOp(ops: readonly SysvSemaphoreOp[]): boolean {
    const id = this.#live();
    const triples = this.#ops(ops, IPC_NOWAIT);
    return this.#call(() => binding.sysvSem.tryOp(id, triples));
  }

  /**
   * Applies `ops` atomically, blocking this thread until all of them can
   * proceed (semtimedop(2)) — for workers and scripts; on the main thread
   * prefer {@link SysvSemaphoreSet.op}.
   * @throws `ETIMEDOUT` when `timeoutMs` (ms) runs out; `EAGAIN` when an operation with `noWait`
   *   cannot proceed; `EIDRM` if the set is removed meanwhile; RangeError for bad ops.
   */
  opSync(ops: readonly SysvSemaphoreOp[], options?: WaitSyncOptions): void {
    const id = this.#live();
    const triples = this.#ops(ops);
    const timeoutMs = parseWaitSyncOptions(options);
    if (this.#call(() => binding.sysvSem.opSync(id, triples, timeoutMs)) === 'timed-out') {
      throw timeoutError('semop', this.#subject(), timeoutMs);
    }
  }

  /**
   * Applies `ops` atomically, waiting without blocking the event loop or
   * libuv's threadpool until all of them can proceed.
   * @throws (rejects) `ETIMEDOUT` after `timeoutMs` (ms); an `AbortError`; `ERR_SHMKIT_CLOSED`;
   *   `EIDRM` when the set is removed (by any process) while it waits; `EAGAIN` when an
   *   operation with `noWait` cannot proceed; `ERR_SHMKIT_TOO_MANY_WAITS` past
   *   SHMKIT_MAX_BLOCKING_WAITERS. Throws RangeError/TypeError for bad ops or options.
   */
  async op(ops: readonly SysvSemaphoreOp[], options?: WaitOptions): Promise<void> {
    const id = this.#live();
    const triples = this.#ops(ops);
    const opts = parseWaitOptions(options);
    if (opts.signal?.aborted !== true) {
      // Fast path: what can proceed now needs no waiter thread.
      const now = new Int32Array(triples);
      for (let i = 2; i < now.length; i += 3) now[i] = (now[i] as number) | IPC_NOWAIT;
      if (this.#call(() => binding.sysvSem.tryOp(id, now))) return;
    }
    await this.#pending.start(
      (timeoutMs, ref, callback) => binding.sysvSem.opAsync(id, triples, timeoutMs, ref, callback),
      opts,
      (result, timeoutMs) => {
        if (result === 'timed-out') throw timeoutError('semop', this.#subject(), timeoutMs);
      },
    );
  }

  /** The value of semaphore `index` (GETVAL). @throws RangeError for a bad index; `EIDRM`. */
  get(index: number): number {
    const id = this.#live();
    const i = this.#index(index);
    return this.#call(() => binding.sysvSem.getVal(id, i));
  }

  /**
   * Sets semaphore `index` to `value`, 0 to {@link SEMVMX} (SETVAL), waking
   * ops that can now proceed and clearing every process's SEM_UNDO
   * adjustment for it. @throws RangeError; `EIDRM`; `EACCES`.
   */
  set(index: number, value: number): void {
    const id = this.#live();
    const i = this.#index(index);
    const v = validateInteger(value, 'value', 0, SEMVMX);
    this.#call(() => binding.sysvSem.setVal(id, i, v));
  }

  /** Every value, in index order (GETALL). @throws `EIDRM`. */
  getAll(): number[] {
    const id = this.#live();
    return this.#call(() => binding.sysvSem.getAll(id));
  }

  /**
   * Sets every value (SETALL): one per semaphore, each 0 to {@link SEMVMX}.
   * @throws RangeError unless `values` has exactly {@link SysvSemaphoreSet.count} entries; `EIDRM`.
   */
  setAll(values: readonly number[]): void {
    const id = this.#live();
    const array = parseValues(values, 'values', this.count);
    this.#call(() => binding.sysvSem.setAll(id, array));
  }

  /** How many ops (in every process) wait for semaphore `index` to grow (GETNCNT). */
  waitingForIncrease(index: number): number {
    const id = this.#live();
    const i = this.#index(index);
    return this.#call(() => binding.sysvSem.getNcnt(id, i));
  }

  /** How many ops (in every process) wait for semaphore `index` to be zero (GETZCNT). */
  waitingForZero(index: number): number {
    const id = this.#live();
    const i = this.#index(index);
    return this.#call(() => binding.sysvSem.getZcnt(id, i));
  }

  /** The pid of the last process that operated on semaphore `index` (GETPID; 0 if none). */
  lastPid(index: number): number {
    const id = this.#live();
    const i = this.#index(index);
    return this.#call(() => binding.sysvSem.getPid(id, i));
  }

  /** The set's state (semctl(2) IPC_STAT). @throws `EIDRM`; `EACCES` without read permission. */
  stat(): SysvSemaphoreSetStat {
    const id = this.#live();
    const raw = this.#call(() => binding.sysvSem.stat(id));
    return {
      id,
      key: raw.key,
      count: raw.count,
      otime: secondsToMs(raw.otime),
      ctime: secondsToMs(raw.ctime),
      mode: raw.mode,
      uid: raw.uid,
      gid: raw.gid,
      cuid: raw.cuid,
      cgid: raw.cgid,
    };
  }

  /** Changes the permission bits (semctl(2) IPC_SET). @throws `EPERM` if neither owner nor creator; `EIDRM`. */
  setMode(mode: number): void {
    const id = this.#live();
    const bits = validateMode(mode, 'mode');
    this.#call(() => binding.sysvSem.setMode(id, bits));
  }

  /**
   * Removes the set for every process at once (semctl(2) IPC_RMID): ops
   * waiting on it, in any process, fail with `EIDRM`.
   * @throws `EPERM` if neither owner nor creator; `EIDRM` if already removed.
   */
  remove(): void {
    const id = this.#live();
    this.#call(() => binding.sysvSem.remove(id));
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Forgets this handle; safe to call twice. Pending ops reject with `ERR_SHMKIT_CLOSED`. The set stays. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending.rejectAll(new ClosedError(`SysvSemaphoreSet ${this.#subject()}`));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function parseValues(values: unknown, name: string, count: number): Int32Array {
  if (!Array.isArray(values)) throw typeError(name, 'an array of numbers', values);
  if (values.length !== count) throw rangeError(`${name}.length`, `${count} (one value per semaphore)`, values.length);
  return Int32Array.from(values, (value: unknown, i) => validateInteger(value, `${name}[${i}]`, 0, SEMVMX));
}

function parseInitial(initial: unknown, count: number): number[] {
  if (initial === undefined) return new Array<number>(count).fill(0);
  if (typeof initial === 'number') {
    return new Array<number>(count).fill(validateInteger(initial, 'options.initial', 0, SEMVMX));
  }
  return Array.from(parseValues(initial, 'options.initial', count));
}
