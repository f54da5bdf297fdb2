/**
 * System V message queues: msgget(2), msgsnd(2), msgrcv(2), msgctl(2) and
 * ftok(3). See {@link SysvMessageQueue}.
 */
import fs from 'node:fs';
import type { NativeWaitResult } from '../core/binding.js';
import { binding, requireCapability } from '../core/binding.js';
import {
  AbortError,
  ClosedError,
  codedError,
  type SystemError,
  systemError,
  timeoutError,
  useAfterClose,
} from '../core/errors.js';
import {
  PendingWaits,
  parseWaitOptions,
  parseWaitSyncOptions,
  type WaitOptions,
  type WaitSyncOptions,
} from '../core/pending.js';
import {
  rangeError,
  typeError,
  validateBoolean,
  validateInteger,
  validateMode,
  validateOptions,
  valueError,
} from '../core/validate.js';
import { explainRemoved, isGone, validateKey } from './sysv-ipc.js';

const INT32_MAX = 2147483647;
/** How long a cancelled receive's message may wait for room on a full queue to be put back (ms). */
const PUT_BACK_TIMEOUT_MS = 10_000;

/** The largest message type shmkit accepts (msgsnd takes a C long; JS keeps it to 31 bits). */
export const MSG_TYPE_MAX = INT32_MAX;

function readSysctl(name: string, fallback: number): number {
  try {
    const value = Number.parseInt(fs.readFileSync(`/proc/sys/kernel/${name}`, 'utf8'), 10);
    return Number.isFinite(value) ? value : fallback;
  } catch {
    return fallback;
  }
}

let msgmax = readSysctl('msgmax', 8192);

/** The kernel's largest message (kernel.msgmax), re-read when a check would fail. */
function currentMsgmax(length: number): number {
  if (length > msgmax) msgmax = readSysctl('msgmax', msgmax);
  return msgmax;
}

function requireSysv(): void {
  requireCapability('sysvMq', 'System V message queues are');
}

// The calls that name a queue by its id: on an id whose queue was removed they
// fail with EINVAL (EIDRM when it was removed during a blocking call).
const BY_ID = new Set(['msgsnd', 'msgrcv', 'msgctl']);

/**
 * A System V queue error in user terms (native errors name the queue,
 * 'msqid N', as `objectName` already): a queue that is gone is reported as
 * `EIDRM` (the kernel's own error as `cause`) whether the kernel said EIDRM
 * or, for an id with no queue, EINVAL (explainRemoved, shared with the other
 * System V objects). An EINVAL on a queue that still exists (a bad size or
 * type) stays EINVAL; so does msgget's, which names no id.
 */
function explainQueueError(error: unknown, id: number): unknown {
  const { syscall } = error as Partial<SystemError>;
  if (syscall === undefined || !BY_ID.has(syscall)) return error;
  return explainRemoved(error, `msqid ${id}`, () => isGone(() => binding.sysv.stat(id)), 'queue');
}

function toBytes(data: unknown, name: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw typeError(name, 'a Uint8Array, Buffer or string', data);
}

/**
 * A System V IPC key for `path` and `projId` (ftok(3)): the same file and
 * projId give the same key in every process. The file must exist.
 * @param path an existing file.
 * @param projId 1 to 255 (only the low 8 bits are used; 0 is refused).
 * @throws `ENOENT`, `EACCES` from stat(2).
 */
export function ftok(path: string, projId: number): number {
  requireSysv();
  if (typeof path !== 'string') throw typeError('path', 'a string', path);
  if (path.includes('\0')) throw valueError('path', 'must not contain NUL bytes', path);
  validateInteger(projId, 'projId', 1, 255);
  return binding.sysv.ftok(path, projId);
}

export interface SysvMessageQueueOpenOptions {
  /** The queue's key_t, e.g. from {@link ftok}. 0 is IPC_PRIVATE (use {@link SysvMessageQueue.private}). */
  key: number;
}

export interface SysvMessageQueueCreateOptions extends SysvMessageQueueOpenOptions {
  /** Permission bits for a new queue (default 0o600). */
  mode?: number;
}

/** @deprecated Renamed {@link SysvMessageQueueOpenOptions}. */
export type MessageQueueOpenOptions = SysvMessageQueueOpenOptions;
/** @deprecated Renamed {@link SysvMessageQueueCreateOptions}. */
export type MessageQueueCreateOptions = SysvMessageQueueCreateOptions;

export interface SysvMessage {
  /** The message type (> 0). */
  type: number;
  /** The message's bytes. */
  data: Buffer;
}

export interface MessageSendOptions {
  /** The message type, 1 to {@link MSG_TYPE_MAX} (default 1). */
  type?: number;
  /** Fail with `EAGAIN` instead of waiting when the queue is full (IPC_NOWAIT). */
  nowait?: boolean;
}

export interface MessageSendSyncOptions extends MessageSendOptions, WaitSyncOptions {}

export type MessageSendAsyncOptions = MessageSendOptions & WaitOptions;

export interface MessageReceiveOptions {
  /**
   * Which message, as msgrcv(2): 0 (default) the first one; > 0 the first of
   * that type; < 0 the first of the lowest type ≤ |type|.
   */
  type?: number;
  /** The largest message accepted, in bytes (default and limit: kernel.msgmax). */
  maxBytes?: number;
  /** Cut a longer message to `maxBytes` (MSG_NOERROR) instead of failing with `E2BIG`. */
  truncate?: boolean;
}

export interface MessageReceiveSyncOptions extends MessageReceiveOptions, WaitSyncOptions {}

export type MessageReceiveAsyncOptions = MessageReceiveOptions & WaitOptions;

/** What msgctl(2) IPC_STAT says of a queue. */
export interface SysvMessageQueueStat {
  /** Messages in the queue (msg_qnum). */
  messages: number;
  /** Bytes of message data in the queue (msg_cbytes). */
  bytes: number;
  /** The queue's capacity in bytes (msg_qbytes; kernel.msgmnb for a new queue). */
  maxBytes: number;
  /** Pid of the last msgsnd (0 if none). */
  lastSendPid: number;
  /** Pid of the last msgrcv (0 if none). */
  lastReceivePid: number;
  /** Time of the last msgsnd, or null. */
  lastSendTime: Date | null;
  /** Time of the last msgrcv, or null. */
  lastReceiveTime: Date | null;
  /** Time of the last change (creation or IPC_SET). */
  changeTime: Date | null;
  /** Permission bits. */
  mode: number;
  /** Owner's uid and gid. */
  uid: number;
  gid: number;
  /** Creator's uid and gid. */
  cuid: number;
  cgid: number;
}

/** @deprecated Renamed {@link SysvMessageQueueStat}. */
export type MessageQueueStat = SysvMessageQueueStat;

function toDate(seconds: number): Date | null {
  return seconds === 0 ? null : new Date(seconds * 1000);
}

function parseSendOptions(options: MessageSendOptions | undefined): { type: number; nowait: boolean } {
  const opts = validateOptions(options);
  const type = opts.type === undefined ? 1 : validateInteger(opts.type, 'options.type', 1, MSG_TYPE_MAX);
  const nowait = opts.nowait === undefined ? false : validateBoolean(opts.nowait, 'options.nowait');
  return { type, nowait };
}

function parseReceiveOptions(options: MessageReceiveOptions | undefined): {
  type: number;
  maxBytes: number;
  truncate: boolean;
} {
  const opts = validateOptions(options);
  const type = opts.type === undefined ? 0 : validateInteger(opts.type, 'options.type', -MSG_TYPE_MAX, MSG_TYPE_MAX);
  const limit = currentMsgmax(typeof opts.maxBytes === 'number' ? opts.maxBytes : 0);
  const maxBytes = opts.maxBytes === undefined ? limit : validateInteger(opts.maxBytes, 'options.maxBytes', 0, limit);
  const truncate = opts.truncate === undefined ? false : validateBoolean(opts.truncate, 'options.truncate');
  return { type, maxBytes, truncate };
}

/**
 * A System V message queue (msgget(2), sysvipc(7)). Queues are named by a
 * numeric key (often from {@link ftok}), live until removed (`ipcs -q` lists
 * them) and interoperate with C's msgsnd/msgrcv and Python's sysv_ipc on the
 * same key. Messages carry a type (> 0) and up to kernel.msgmax bytes; the
 * queue holds up to its `maxBytes` (msg_qbytes, kernel.msgmnb by default).
 * close() only forgets the handle: the queue lives until
 * {@link SysvMessageQueue.remove}.
 *
 * Async waits block in msgrcv/msgsnd on one of shmkit's waiter threads (never
 * libuv's pool); a thread-directed timer interrupts them every 100 ms with
 * SIGRTMAX (a no-op handler without SA_RESTART) so that timeouts (in
 * milliseconds) and cancellation are honoured. See docs/messaging.md.
 *
 * Errors: system errors carry `code`, `errno`, `syscall` and `objectName`
 * ('msqid 42', or 'key 0x…' from msgget). A queue removed by any process
 * (msgctl IPC_RMID, `ipcrm`, `shmkit rm`) is reported as `EIDRM` by every
 * later call, even where the kernel says EINVAL. A method called after
 * close(), or a wait pending at close(), throws/rejects with a `ClosedError`
 * (`ERR_SHMKIT_CLOSED`). Bad arguments and messages over the size limits throw
 * TypeError/RangeError before any system call.
 */
export class SysvMessageQueue implements Disposable {
  /** The kernel's queue id (msqid), as `ipcs -q` shows it. */
  readonly id: number;
  /** The key it was opened by (0 for a private queue). */
  readonly key: number;
  /** Whether this call created the queue. */
  readonly created: boolean;
  #closed = false;
  #qbytes = -1;
  readonly #pending = new PendingWaits((error) => explainQueueError(error, this.id) as Error);
  /** The pending async sends (not in #pending: see #sendWaiting), each stopped by close(). */
  readonly #stopSends = new Set<() => void>();

  private constructor(id: number, key: number, created: boolean) {
    this.id = id;
    this.key = key;
    this.created = created;
  }

  /**
   * Creates a queue for `key` (msgget IPC_CREAT|IPC_EXCL).
   * @throws `EEXIST` if the key has a queue; `ENOSPC` past kernel.msgmni; `EACCES`.
   */
  static create(options: SysvMessageQueueCreateOptions): SysvMessageQueue {
    return SysvMessageQueue.#make(options, 'create');
  }

  /**
   * Opens the queue of `key` (msgget without IPC_CREAT).
   * @throws `ENOENT` if there is none; `EACCES` if its mode forbids it.
   */
  static open(options: SysvMessageQueueOpenOptions): SysvMessageQueue {
    return SysvMessageQueue.#make(options, 'open');
  }

  /** Opens the queue of `key`, creating it (with `mode`) if there is none. */
  static openOrCreate(options: SysvMessageQueueCreateOptions): SysvMessageQueue {
    return SysvMessageQueue.#make(options, 'openOrCreate');
  }

  /**
   * Creates a new queue with no key (IPC_PRIVATE): reachable only by its
   * {@link SysvMessageQueue.id}, e.g. in a child given the id.
   */
  static private(options?: { mode?: number }): SysvMessageQueue {
    requireSysv();
    const opts = validateOptions(options);
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const { id, created } = binding.sysv.get(0, 'private', mode);
    return new SysvMessageQueue(id, 0, created);
  }

  /**
   * Uses an existing queue by its id (say, a private queue's id passed to a
   * child). Does not check that it exists: the first operation fails with
   * `EIDRM` if it does not.
   */
  static fromId(id: number): SysvMessageQueue {
    requireSysv();
    validateInteger(id, 'id', 0, INT32_MAX);
    return new SysvMessageQueue(id, 0, false);
  }

  static #make(options: SysvMessageQueueCreateOptions, openMode: 'create' | 'open' | 'openOrCreate'): SysvMessageQueue {
    requireSysv();
    if (options === null || typeof options !== 'object') throw typeError('options', 'an object', options);
    const key = validateKey(options.key, 'options.key');
    if (key === 0) {
      throw rangeError('options.key', 'a non-zero key (0 is IPC_PRIVATE: use SysvMessageQueue.private())', key);
    }
    const mode = options.mode === undefined ? 0o600 : validateMode(options.mode, 'options.mode');
    const { id, created } = binding.sysv.get(key, openMode, mode);
    return new SysvMessageQueue(id, key, created);
  }

  #live(): number {
    if (this.#closed) throw useAfterClose(`SysvMessageQueue ${this.#subject()}`);
    return this.id;
  }

  #subject(): string {
    return `msqid ${this.id}`;
  }

  /** Runs a syscall on this queue, its errors in user terms (see explainQueueError). */
  #call<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      throw explainQueueError(error, this.id);
    }
  }

  /** Checks a message's size against kernel.msgmax and the queue's msg_qbytes, before msgsnd. */
  #checkSize(data: Uint8Array): void {
    const limit = currentMsgmax(data.byteLength);
    if (data.byteLength > limit) {
      throw rangeError(
        'data',
        `at most ${limit} bytes, the kernel's message size limit (kernel.msgmax, /proc/sys/kernel/msgmax)`,
        data.byteLength,
      );
    }
    if (data.byteLength > this.#qbytes) {
      this.#qbytes = this.#call(() => binding.sysv.stat(this.id)).maxBytes;
      if (data.byteLength > this.#qbytes) {
        throw rangeError(
          'data',
          `at most ${this.#qbytes} bytes, this queue's capacity (msg_qbytes; kernel.msgmnb for new queues)`,
          data.byteLength,
        );
      }
    }
  }

  /**
   * Sends without waiting (msgsnd IPC_NOWAIT).
   * @param data bytes, or a string sent as UTF-8.
   * @returns false if the queue is full.
   * @throws RangeError over kernel.msgmax or the queue's capacity; `EIDRM` if the queue was removed.
   */
  trySend(data: Uint8Array | string, options?: Omit<MessageSendOptions, 'nowait'>): boolean {
    const id = this.#live();
    const bytes = toBytes(data, 'data');
    const { type } = parseSendOptions(options);
    this.#checkSize(bytes);
    return this.#call(() => binding.sysv.send(id, type, bytes, true, 0));
  }

  /**
   * Sends, blocking this thread while the queue is full — for workers and
   * scripts; on the main thread prefer {@link SysvMessageQueue.send}.
   * @throws `ETIMEDOUT` when `timeoutMs` runs out; `EAGAIN` with `nowait` and a full queue; `EIDRM`;
   * RangeError over the limits.
   */
  sendSync(data: Uint8Array | string, options?: MessageSendSyncOptions): void {
    const id = this.#live();
    const bytes = toBytes(data, 'data');
    const { type, nowait } = parseSendOptions(options);
    const timeoutMs = parseWaitSyncOptions(options);
    this.#checkSize(bytes);
    if (!this.#call(() => binding.sysv.send(id, type, bytes, nowait, timeoutMs))) {
      if (nowait) throw systemError('EAGAIN', 'msgsnd', this.#subject(), 'queue is full');
      throw timeoutError('msgsnd', this.#subject(), timeoutMs);
    }
  }

  /**
   * Sends, waiting without blocking the event loop while the queue is full.
   * The bytes are copied at the call: later changes to `data` do not affect it.
   *
   * Aborting (or close()) reports truthfully whether the message went: it
   * stops the waiter thread's msgsnd, and the promise settles with what
   * happened — resolved if msgsnd had already put the message on the queue,
   * rejected with the `AbortError` (or `ClosedError`) only if it did not. So
   * unlike other waits it settles a moment after the abort (at once in
   * practice, at most one 100 ms slice later), never before the outcome is known.
   * @throws (rejects) `ETIMEDOUT`, an `AbortError`, `ERR_SHMKIT_CLOSED` (each: not sent),
   * `EIDRM` if the queue is removed; `EAGAIN` with `nowait`. Throws RangeError over the limits.
   */
  async send(data: Uint8Array | string, options?: MessageSendAsyncOptions): Promise<void> {
    const id = this.#live();
    const bytes = toBytes(data, 'data');
    const { type, nowait } = parseSendOptions(options);
    const opts = parseWaitOptions(options);
    this.#checkSize(bytes);
    if (opts.signal?.aborted === true) throw new AbortError(undefined, { cause: opts.signal.reason });
    if (this.#call(() => binding.sysv.send(id, type, bytes, true, 0))) return;
    if (nowait) throw systemError('EAGAIN', 'msgsnd', this.#subject(), 'queue is full');
    return this.#sendWaiting(id, type, bytes, opts);
  }

  /**
   * The waiting part of send(), outside #pending: an abort or close() does
   * not cancel the native wait (whose result would then be dropped) but asks
   * it to stop (sysv.take with putBack), and the wait itself reports 'ok' if
   * the message went or 'cancelled' if it did not.
   */
  #sendWaiting(id: number, type: number, bytes: Uint8Array, opts: Partial<WaitOptions>): Promise<void> {
    const timeoutMs = parseWaitSyncOptions(opts);
    const signal = opts.signal;
    const token = binding.sysv.token();
    return new Promise<void>((resolve, reject) => {
      let stopped: Error | undefined;
      const stop = (reason: Error) => {
        if (stopped) return;
        stopped = reason;
        binding.sysv.take(token, true); // interrupts the waiter thread's msgsnd now
      };
      const onAbort = () => stop(new AbortError(undefined, { cause: signal?.reason }));
      const onClose = () => stop(new ClosedError(`SysvMessageQueue ${this.#subject()}`));
      this.#call(() =>
        binding.sysv.sendAsync(id, type, bytes, token, timeoutMs, opts.ref ?? true, (error, result) => {
          signal?.removeEventListener('abort', onAbort);
          this.#stopSends.delete(onClose);
          if (error) reject(explainQueueError(error, id));
          else if (result === 'ok')
            resolve(); // sent, even if stopped meanwhile
          else if (result === 'timed-out') reject(timeoutError('msgsnd', this.#subject(), opts.timeoutMs ?? -1));
          else reject(stopped ?? new AbortError());
        }),
      );
      this.#stopSends.add(onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Receives without waiting (msgrcv IPC_NOWAIT).
   * @returns the message, or undefined if none matches.
   * @throws `E2BIG` if the message is over `maxBytes` and `truncate` is not set; `EIDRM`.
   */
  tryReceive(options?: MessageReceiveOptions): SysvMessage | undefined {
    const id = this.#live();
    const { type, maxBytes, truncate } = parseReceiveOptions(options);
    return this.#call(() => binding.sysv.receive(id, type, maxBytes, truncate, true, 0)) ?? undefined;
  }

  /**
   * Receives, blocking this thread until a matching message arrives — for
   * workers and scripts. With `timeoutMs` it polls with a back-off of at most 5 ms.
   * @throws `ETIMEDOUT`; `E2BIG`; `EIDRM` if the queue is removed meanwhile.
   */
  receiveSync(options?: MessageReceiveSyncOptions): SysvMessage {
    const id = this.#live();
    const { type, maxBytes, truncate } = parseReceiveOptions(options);
    const timeoutMs = parseWaitSyncOptions(options);
    const message = this.#call(() => binding.sysv.receive(id, type, maxBytes, truncate, false, timeoutMs));
    if (message === null) throw timeoutError('msgrcv', this.#subject(), timeoutMs);
    return message;
  }

  /**
   * Receives the next matching message without blocking the event loop or a
   * libuv pool thread. A receive aborted (or closed) just as its message
   * arrived puts the message back on the queue (at the end of its type); on a
   * full queue the put-back waits up to 10 s for room, and one that fails is
   * reported as a process warning with code `ERR_SHMKIT_PUT_BACK`.
   * @throws (rejects) `ETIMEDOUT`; an `AbortError`; `ERR_SHMKIT_CLOSED`; `EIDRM` when the queue is
   * removed (by any process) while it waits; `E2BIG`.
   */
  async receive(options?: MessageReceiveAsyncOptions): Promise<SysvMessage> {
    const id = this.#live();
    const { type, maxBytes, truncate } = parseReceiveOptions(options);
    const opts = parseWaitOptions(options);
    if (opts.signal?.aborted !== true) {
      const now = this.#call(() => binding.sysv.receive(id, type, maxBytes, truncate, true, 0));
      if (now !== null) return now;
    }
    const token = binding.sysv.token();
    const waiting = this.#pending.start(
      (timeoutMs, ref, callback) =>
        binding.sysv.receiveAsync(id, type, maxBytes, truncate, token, timeoutMs, ref, callback),
      opts,
      (result: NativeWaitResult, timeoutMs) => {
        if (result === 'timed-out') throw timeoutError('msgrcv', this.#subject(), timeoutMs);
        const message = binding.sysv.take(token, false);
        if (message === null) throw systemError('ENOMSG', 'msgrcv', this.#subject(), 'message lost');
        return message;
      },
    );
    return waiting.catch((error: unknown) => {
      // Cancelled: interrupt the waiter thread's msgrcv now, and put back a
      // message it received meanwhile (native code does it if it fits now).
      const unsent = binding.sysv.take(token, true);
      if (unsent) this.#putBack(id, unsent);
      throw error;
    });
  }

  /**
   * Puts back a message a cancelled receive had taken, when the queue was
   * full (or gone): an async send with a deadline of PUT_BACK_TIMEOUT_MS.
   * A put-back that fails is reported as a process warning
   * (`process.on('warning')`), an error with code `ERR_SHMKIT_PUT_BACK`, the
   * message's `type` and `data`, and the failure as `cause`.
   */
  #putBack(id: number, message: SysvMessage): void {
    const token = binding.sysv.token();
    const report = (cause: unknown) => {
      const text =
        `SysvMessageQueue ${this.#subject()}: a message (type ${message.type}, ${message.data.length} bytes) ` +
        `taken by a cancelled receive could not be put back: ${(cause as Error).message ?? String(cause)}`;
      const error = Object.assign(codedError('ERR_SHMKIT_PUT_BACK', text), { ...message, cause });
      process.emitWarning(error);
    };
    try {
      binding.sysv.sendAsync(id, message.type, message.data, token, PUT_BACK_TIMEOUT_MS, true, (error, result) => {
        if (error) report(explainQueueError(error, id));
        else if (result !== 'ok') report(timeoutError('msgsnd', this.#subject(), PUT_BACK_TIMEOUT_MS));
      });
    } catch (error) {
      report(error);
    }
  }

  /**
   * The queue's state (msgctl IPC_STAT).
   * @throws `EIDRM` if removed; `EACCES` without read permission.
   */
  stat(): SysvMessageQueueStat {
    const id = this.#live();
    const raw = this.#call(() => binding.sysv.stat(id));
    this.#qbytes = raw.maxBytes;
    return {
      messages: raw.messages,
      bytes: raw.bytes,
      maxBytes: raw.maxBytes,
      lastSendPid: raw.lastSendPid,
      lastReceivePid: raw.lastReceivePid,
      lastSendTime: toDate(raw.lastSendTime),
      lastReceiveTime: toDate(raw.lastReceiveTime),
      changeTime: toDate(raw.changeTime),
      mode: raw.mode,
      uid: raw.uid,
      gid: raw.gid,
      cuid: raw.cuid,
      cgid: raw.cgid,
    };
  }

  /**
   * Changes the capacity (bytes) and/or permission bits (msgctl IPC_SET).
   * @throws `EPERM` raising `maxBytes` above kernel.msgmnb without CAP_SYS_RESOURCE, or when not the owner;
   * `EIDRM` if removed.
   */
  set(options: { maxBytes?: number; mode?: number }): void {
    const id = this.#live();
    if (options === null || typeof options !== 'object') throw typeError('options', 'an object', options);
    const maxBytes =
      options.maxBytes === undefined ? -1 : validateInteger(options.maxBytes, 'options.maxBytes', 1, INT32_MAX);
    const mode = options.mode === undefined ? -1 : validateMode(options.mode, 'options.mode');
    this.#call(() => binding.sysv.set(id, maxBytes, mode));
    this.#qbytes = -1;
  }

  /**
   * Removes the queue for every process (msgctl IPC_RMID). Receives and sends
   * pending on it, in any process, fail with `EIDRM`. The handle stays usable
   * only for close().
   * @throws `EPERM` if neither owner nor creator; `EIDRM` if already removed.
   */
  remove(): void {
    const id = this.#live();
    this.#call(() => binding.sysv.remove(id));
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Forgets this handle; safe to call twice. Pending waits of this handle
   * reject with `ERR_SHMKIT_CLOSED`. The queue stays (see remove()).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending.rejectAll(new ClosedError(`SysvMessageQueue ${this.#subject()}`));
    for (const stop of [...this.#stopSends]) stop();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The old name of {@link SysvMessageQueue}: the same class, so `instanceof`
 * holds either way.
 * @deprecated Use {@link SysvMessageQueue}; this alias goes in the next minor version.
 */
export const MessageQueue = SysvMessageQueue;
/** @deprecated Use {@link SysvMessageQueue}. */
export type MessageQueue = SysvMessageQueue;
