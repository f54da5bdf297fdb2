/**
 * POSIX message queues (mq_overview(7)): mq_open(3), mq_send(3),
 * mq_receive(3), mq_getattr(3), mq_close(3), mq_unlink(3). Linux only.
 * See {@link PosixMessageQueue}.
 */
import fs from 'node:fs';
import type { NativePosixMq, NativeWaitResult, OpenMode } from '../core/binding.js';
import { binding, requireCapability } from '../core/binding.js';
import { deadlineOf, remainingMs } from '../core/deadline.js';
import { ClosedError, timeoutError, useAfterClose } from '../core/errors.js';
import { NAME_MAX, posixName } from '../core/names.js';
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
  validateInteger,
  validateMode,
  validateOptions,
  validateTimeoutMs,
} from '../core/validate.js';

/** Highest priority + 1 (MQ_PRIO_MAX on Linux). */
export const MQ_PRIO_MAX = 32768;
/** Linux's hard ceilings (HARD_MSGMAX, HARD_MSGSIZEMAX), even for a privileged process. */
const HARD_MSGMAX = 65536;
const HARD_MSGSIZEMAX = 16 * 1024 * 1024;

export interface PosixMessageQueueAttributes {
  /** Capacity in messages (mq_maxmsg). */
  maxMessages: number;
  /** Largest message in bytes (mq_msgsize). */
  messageSize: number;
  /** Messages now in the queue (mq_curmsgs). */
  currentMessages: number;
}

export interface PosixMessageQueueCreateOptions {
  /**
   * Capacity in messages (default /proc/sys/fs/mqueue/msg_default; at most
   * fs.mqueue.msg_max without CAP_SYS_RESOURCE).
   */
  maxMessages?: number;
  /**
   * Largest message in bytes (default fs.mqueue.msgsize_default; at most
   * fs.mqueue.msgsize_max without CAP_SYS_RESOURCE).
   */
  messageSize?: number;
  /** Permission bits for a new queue (default 0o600). */
  mode?: number;
}

export interface PosixMessage {
  data: Buffer;
  /** 0 to MQ_PRIO_MAX - 1; higher comes out first. */
  priority: number;
}

export interface PosixSendOptions {
  /** 0 (default) to 32767; higher priorities are received first, FIFO within one. */
  priority?: number;
}

/** @deprecated Use {@link WaitSyncOptions}. */
export type PosixSyncWaitOptions = WaitSyncOptions;

export type PosixSendSyncOptions = PosixSendOptions & WaitSyncOptions;
export type PosixSendAsyncOptions = PosixSendOptions & WaitOptions;

function requirePosixMq(): void {
  requireCapability('posixMq', 'POSIX message queues are');
}

function mqName(name: unknown): string {
  return posixName(name, 'name', NAME_MAX);
}

function readLimit(file: string): number | undefined {
  try {
    const value = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function rlimitMsgqueue(): string {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((text) => text.startsWith('Max msgqueue size'));
    return line?.trim().split(/\s+/)[3] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Adds the limit a failed mq_open ran into, with its current value, to the error's message. */
function explainLimit(error: unknown, maxMessages: number, messageSize: number): unknown {
  const code = (error as { code?: string }).code;
  if (!(error instanceof Error) || (code !== 'EINVAL' && code !== 'EMFILE' && code !== 'ENOSPC')) return error;
  const dir = '/proc/sys/fs/mqueue';
  const wantMsgs = maxMessages || readLimit(`${dir}/msg_default`);
  const wantSize = messageSize || readLimit(`${dir}/msgsize_default`);
  if (code === 'EINVAL') {
    error.message +=
      ` (asked for ${wantMsgs} messages of ${wantSize} bytes; limits: fs.mqueue.msg_max = ${readLimit(`${dir}/msg_max`)},` +
      ` fs.mqueue.msgsize_max = ${readLimit(`${dir}/msgsize_max`)} in ${dir})`;
  } else if (code === 'EMFILE') {
    error.message +=
      ` (the queue needs about ${(wantMsgs ?? 0) * (wantSize ?? 0)} bytes of this user's RLIMIT_MSGQUEUE budget,` +
      ` which is ${rlimitMsgqueue()} bytes (ulimit -q); or the process is out of file descriptors)`;
  } else {
    error.message += ` (fs.mqueue.queues_max = ${readLimit(`${dir}/queues_max`)} queues in ${dir})`;
  }
  return error;
}

function toBytes(data: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw typeError('data', 'a Uint8Array, Buffer or string', data);
}

function parsePriority(options: PosixSendOptions | undefined): number {
  const opts = validateOptions(options);
  return opts.priority === undefined ? 0 : validateInteger(opts.priority, 'options.priority', 0, MQ_PRIO_MAX - 1);
}

/**
 * A POSIX message queue (mq_open(3), mq_overview(7)); Linux only. Messages
 * of up to `messageSize` bytes come out highest priority first, FIFO within a
 * priority. On Linux queues live in the mqueue filesystem (/dev/mqueue when
 * mounted). close() releases this descriptor; the queue lives until unlink()
 * (or reboot).
 *
 * The descriptor is always opened O_NONBLOCK: sends and receives are tries on
 * the calling thread, and waits poll(2) the descriptor for readiness on
 * shmkit's one poll thread, which serves every pending wait of the process
 * (never libuv's pool) — a wait never takes a message
 * off the queue, so a timed-out, aborted or closed wait cannot lose one.
 * Timeouts are in milliseconds.
 *
 * Errors: system errors carry `code` (`EEXIST`, `ENOENT`, `EACCES`, `EINVAL`/
 * `EMFILE`/`ENOSPC` naming the limit hit, `ETIMEDOUT`, …), `errno`, `syscall`
 * and `objectName` (the queue's name); a method called after close(), or a
 * wait pending at close(), throws/rejects with a `ClosedError`
 * (`ERR_SHMKIT_CLOSED`); bad arguments and messages over `messageSize` throw
 * TypeError/RangeError before any system call; off Linux, every call throws
 * `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM`.
 */
export class PosixMessageQueue implements Disposable {
  /** The POSIX name, with its leading '/'. */
  readonly name: string;
  /** Whether this call created the queue. */
  readonly created: boolean;
  /** The largest message in bytes (mq_msgsize), read at open. */
  readonly messageSize: number;
  #handle: NativePosixMq | undefined;
  readonly #pending = new PendingWaits(); // native wait errors name the queue already

  private constructor(name: string, handle: NativePosixMq) {
    this.name = name;
    this.created = handle.created;
    this.#handle = handle;
    this.messageSize = handle.attributes().messageSize;
  }

  /**
   * Creates a queue (mq_open O_CREAT|O_EXCL).
   * @throws `EEXIST`; `EINVAL` past fs.mqueue.msg_max/msgsize_max, `EMFILE` past RLIMIT_MSGQUEUE,
   * `ENOSPC` past fs.mqueue.queues_max — each message names the limit and its current value.
   */
  static create(name: string, options?: PosixMessageQueueCreateOptions): PosixMessageQueue {
    return PosixMessageQueue.#make(name, 'create', options);
  }

  /**
   * Opens an existing queue.
   * @throws `ENOENT` if there is none; `EACCES` if its mode forbids it.
   */
  static open(name: string): PosixMessageQueue {
    return PosixMessageQueue.#make(name, 'open', undefined);
  }

  /** Opens the queue, creating it with `options` if it does not exist. */
  static openOrCreate(name: string, options?: PosixMessageQueueCreateOptions): PosixMessageQueue {
    return PosixMessageQueue.#make(name, 'openOrCreate', options);
  }

  /**
   * Removes the name (mq_unlink(3)); open descriptors keep working.
   * @throws `ENOENT` if there is no such queue.
   */
  static unlink(name: string): void {
    requirePosixMq();
    const fullName = mqName(name);
    binding.posixMq.unlink(fullName);
  }

  static #make(name: string, openMode: OpenMode, options: PosixMessageQueueCreateOptions | undefined) {
    requirePosixMq();
    const fullName = mqName(name);
    const opts = validateOptions(options);
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const maxMessages =
      opts.maxMessages === undefined ? 0 : validateInteger(opts.maxMessages, 'options.maxMessages', 1, HARD_MSGMAX);
    const messageSize =
      opts.messageSize === undefined ? 0 : validateInteger(opts.messageSize, 'options.messageSize', 1, HARD_MSGSIZEMAX);
    let wantMsgs = maxMessages;
    let wantSize = messageSize;
    if ((wantMsgs === 0) !== (wantSize === 0)) {
      // mq_open takes both or neither: fill in the system default of the other.
      wantMsgs ||= readLimit('/proc/sys/fs/mqueue/msg_default') ?? 10;
      wantSize ||= readLimit('/proc/sys/fs/mqueue/msgsize_default') ?? 8192;
    }
    try {
      return new PosixMessageQueue(fullName, new binding.posixMq.Handle(fullName, openMode, mode, wantMsgs, wantSize));
    } catch (error) {
      throw explainLimit(error, wantMsgs, wantSize); // the native error names the queue already
    }
  }

  #live(): NativePosixMq {
    if (!this.#handle) throw useAfterClose(`PosixMessageQueue '${this.name}'`);
    return this.#handle;
  }

  #checkSize(data: Uint8Array): void {
    if (data.byteLength > this.messageSize) {
      throw rangeError(
        'data',
        `at most ${this.messageSize} bytes, this queue's messageSize (mq_msgsize)`,
        data.byteLength,
      );
    }
  }

  /** The queue's attributes (mq_getattr(3)). */
  attributes(): PosixMessageQueueAttributes {
    const handle = this.#live();
    return handle.attributes();
  }

  /**
   * Sends without waiting.
   * @param data bytes, or a string sent as UTF-8; at most `messageSize` bytes (RangeError otherwise).
   * @returns false if the queue is full.
   */
  trySend(data: Uint8Array | string, options?: PosixSendOptions): boolean {
    const handle = this.#live();
    const bytes = toBytes(data);
    const priority = parsePriority(options);
    this.#checkSize(bytes);
    return handle.send(bytes, priority);
  }

  /**
   * Sends, blocking this thread while the queue is full (for workers and scripts).
   * @throws `ETIMEDOUT` when `timeoutMs` runs out.
   */
  sendSync(data: Uint8Array | string, options?: PosixSendSyncOptions): void {
    const handle = this.#live();
    const bytes = toBytes(data);
    const priority = parsePriority(options);
    const timeoutMs = parseWaitSyncOptions(options);
    this.#checkSize(bytes);
    const deadline = deadlineOf(timeoutMs);
    while (!handle.send(bytes, priority)) {
      const left = remainingMs(deadline);
      if (handle.pollSync('out', left) === 'timed-out') throw timeoutError('mq_send', this.name, timeoutMs);
    }
  }

  /**
   * Sends, waiting without blocking the event loop or a libuv pool thread
   * while the queue is full. The bytes are copied at the call.
   * @throws (rejects) `ETIMEDOUT`; an `AbortError`; `ERR_SHMKIT_CLOSED`. Throws RangeError over messageSize.
   */
  async send(data: Uint8Array | string, options?: PosixSendAsyncOptions): Promise<void> {
    const handle = this.#live();
    const bytes = Buffer.from(toBytes(data)); // a copy: the caller may reuse its buffer
    const priority = parsePriority(options);
    const opts = parseWaitOptions(options);
    this.#checkSize(bytes);
    await this.#until('out', opts, 'mq_send', () => (handle.send(bytes, priority) ? true : undefined));
  }

  /** Receives without waiting: the highest-priority message, or undefined if the queue is empty. */
  tryReceive(): PosixMessage | undefined {
    const handle = this.#live();
    return handle.receive() ?? undefined;
  }

  /**
   * Receives, blocking this thread until a message arrives (for workers and scripts).
   * @throws `ETIMEDOUT` when `timeoutMs` runs out.
   */
  receiveSync(options?: WaitSyncOptions): PosixMessage {
    const handle = this.#live();
    const timeoutMs = parseWaitSyncOptions(options);
    const deadline = deadlineOf(timeoutMs);
    for (;;) {
      const message = handle.receive();
      if (message) return message;
      const left = remainingMs(deadline);
      if (handle.pollSync('in', left) === 'timed-out') {
        const last = handle.receive();
        if (last) return last;
        throw timeoutError('mq_receive', this.name, timeoutMs);
      }
    }
  }

  /**
   * Receives the highest-priority message, waiting without blocking the
   * event loop or a libuv pool thread. The message is taken on the JS thread
   * once the descriptor polls readable, so a cancelled wait loses nothing.
   * @throws (rejects) `ETIMEDOUT`; an `AbortError`; `ERR_SHMKIT_CLOSED`.
   */
  async receive(options?: WaitOptions): Promise<PosixMessage> {
    const handle = this.#live();
    const opts = parseWaitOptions(options);
    return this.#until('in', opts, 'mq_receive', () => handle.receive() ?? undefined);
  }

  /** Tries `attempt`; while it yields undefined, polls for `events` and tries again. */
  async #until<T>(
    events: 'in' | 'out',
    opts: Partial<WaitOptions>,
    syscall: string,
    attempt: () => T | undefined,
  ): Promise<T> {
    const timeoutMs = validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs');
    const deadline = deadlineOf(timeoutMs);
    if (opts.signal?.aborted !== true) {
      const first = attempt();
      if (first !== undefined) return first;
    }
    for (;;) {
      const left = remainingMs(deadline);
      const handle = this.#live();
      const result = await this.#pending.start(
        (waitMs, ref, callback) => handle.pollAsync(events, waitMs, ref, callback),
        { ...opts, timeoutMs: left < 0 ? undefined : left },
        (outcome: NativeWaitResult) => outcome,
      );
      // Another reader (or writer) may have won the race: then wait again.
      const value = this.#handle ? attempt() : undefined;
      if (value !== undefined) return value;
      if (result === 'timed-out') throw timeoutError(syscall, this.name, timeoutMs);
      this.#live();
    }
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#handle === undefined;
  }

  /**
   * Releases this descriptor (mq_close(3)); safe to call twice. Pending waits
   * reject with `ERR_SHMKIT_CLOSED`. The queue stays (see unlink()).
   */
  close(): void {
    if (!this.#handle) return;
    this.#pending.rejectAll(new ClosedError(`PosixMessageQueue '${this.name}'`));
    this.#handle.close();
    this.#handle = undefined;
  }

  /** Removes the queue's name (mq_unlink(3)). */
  unlink(): void {
    PosixMessageQueue.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
