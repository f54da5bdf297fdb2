/**
 * RingBuffer: variable-length messages between processes through one shm
 * object (format: lib/structures/ring/format.ts, docs/ring-format.md).
 *
 * Single-producer/single-consumer rings are lock-free: the producer owns
 * `tail`, the consumer owns `head`, both published with Atomics. With several
 * producers (or consumers) a robust lock in the header guards that side.
 * A push or pop stays in JS unless it has to sleep or wake a sleeper: it
 * spins for `spinUs`, then parks on a futex; the other side calls the kernel
 * only when the header says someone sleeps.
 */
import { ClosedError, codedError, timeoutError, useAfterClose } from '../../core/errors.js';
import type { WaitOptions } from '../../core/pending.js';
import { typeError, validateInteger, validateOptions, validateTimeoutMs } from '../../core/validate.js';
import { sleepWord, sleepWordSync, wakeWord } from '../../primitives/futex.js';
import { SharedMemory } from '../../primitives/shm.js';
import { lockWord, lockWordSync, tryLockWord, unlockWord } from '../lock-word.js';
import {
  FLAG_MULTI_CONSUMER,
  FLAG_MULTI_PRODUCER,
  FRAME_ALIGN,
  FRAME_HEADER_BYTES,
  f64,
  frameBytes,
  HEADER_BYTES,
  MAX_CAPACITY,
  MIN_CAPACITY,
  nextPowerOfTwo,
  OFFSET,
  WRAP_MARKER,
  word,
} from './format.js';
import { createRingMapping, openRingMapping, type RingHeader, ringError } from './header.js';

export type Side = 'single' | 'multi';

export interface RingBufferCreateOptions {
  /** Bytes for messages; rounded up to a power of two in [64, 2^30]. A message may be up to capacityBytes - 8 bytes. */
  capacityBytes: number;
  /** Permission bits (default 0o600), masked by the umask. */
  mode?: number;
  /** 'single' (default): one producer process, lock-free. 'multi': producers take a lock. */
  producers?: Side;
  /** 'single' (default): one consumer process, lock-free. 'multi': consumers take a lock. */
  consumers?: Side;
  /** Microseconds to spin before parking on a futex (default 20; 0 parks at once). */
  spinUs?: number;
}

export interface RingBufferOpenOptions {
  /** Microseconds to spin before parking on a futex (default 20; 0 parks at once). */
  spinUs?: number;
}

export interface SyncWaitOptions {
  /** Give up after this many milliseconds (default: wait forever): ETIMEDOUT. */
  timeoutMs?: number;
}

/** Counters kept in the header, shared by every process attached to the ring. */
export interface RingStats {
  pushedMessages: number;
  pushedBytes: number;
  poppedMessages: number;
  poppedBytes: number;
  /** Messages in the ring now. */
  depthMessages: number;
  /** Bytes in use now (frames, padding and wrap markers included). */
  depthBytes: number;
  /** Most bytes ever in use after a push. */
  highWaterBytes: number;
  /** Times a producer parked waiting for space, and wakes sent to producers. */
  producerParks: number;
  producerWakes: number;
  /** Times a consumer parked waiting for a message, and wakes sent to consumers. */
  consumerParks: number;
  consumerWakes: number;
  /** Times a process took over a producer or consumer lock whose owner had died holding it. */
  lockRecoveries: number;
}

const DEFAULT_SPIN_US = 20;
const TAIL = word(OFFSET.tail);
const HEAD = word(OFFSET.head);
const PRODUCER_LOCK = word(OFFSET.producerLock);
const CONSUMER_LOCK = word(OFFSET.consumerLock);
const CONSUMER_SLEEPING = word(OFFSET.consumerSleeping);
const PRODUCER_SLEEPING = word(OFFSET.producerSleeping);
const INT32_MAX = 2147483647;
const LOCK_SPINS = 256;

function validateSpinUs(value: unknown): number {
  return value === undefined ? DEFAULT_SPIN_US : validateInteger(value, 'options.spinUs', 0, 1_000_000);
}

function validateBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw typeError(name, 'a Uint8Array or Buffer', value);
  return value;
}

function remainingMs(deadline: number): number {
  return deadline === Number.POSITIVE_INFINITY ? -1 : Math.max(0, deadline - performance.now());
}

/** The checked timeout of a sync call; cheap when no options are given (the hot path). */
function syncTimeoutMs(options: SyncWaitOptions | undefined): number {
  return options === undefined ? -1 : validateTimeoutMs(validateOptions(options).timeoutMs, 'options.timeoutMs');
}

function deadlineOf(timeoutMs: number): number {
  return timeoutMs < 0 ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
}

/** One side's wait: what it waits for, and where it parks. */
interface WaitSide {
  ready: () => boolean;
  multi: boolean;
  lock: number;
  word: number;
  parks: number;
}

export class RingBuffer implements Disposable, AsyncIterable<Uint8Array> {
  /** The shm object's name. */
  readonly name: string;
  /** Bytes of the data area (a power of two). */
  readonly capacityBytes: number;
  /** Largest message this ring takes: capacityBytes - 8. */
  readonly maxMessageBytes: number;
  readonly producers: Side;
  readonly consumers: Side;
  /** Fingerprint of the schema or codec of a TypedQueue over this ring (0 for bytes). */
  readonly fingerprint: number;
  readonly #shm: SharedMemory;
  readonly #i32: Int32Array;
  readonly #u32: Uint32Array;
  readonly #f64: Float64Array;
  readonly #bytes: Uint8Array; // the whole mapping
  readonly #mask: number;
  readonly #spinUs: number;
  readonly #pid = process.pid;
  // Producer state: the next tail (owned when single) and a lower bound of head.
  #tail: number;
  #headSeen: number;
  // Consumer state: the next head (owned when single) and the last tail seen.
  #head: number;
  #tailSeen: number;
  // The frame between claim() and commit(), and between peek() and release().
  // (numbers, not objects: a zero-copy loop allocates nothing but its view)
  #claimOffset = -1;
  #claimLength = 0;
  #peekLength = -1;
  // Length of the frame #nextFrame() validated: read once, never again from
  // shared memory, where a peer could change it after the check.
  #frameLength = 0;

  private constructor(shm: SharedMemory, header: RingHeader, spinUs: number) {
    this.#shm = shm;
    this.name = shm.name;
    this.capacityBytes = header.capacity;
    this.maxMessageBytes = header.capacity - FRAME_HEADER_BYTES;
    this.producers = header.flags & FLAG_MULTI_PRODUCER ? 'multi' : 'single';
    this.consumers = header.flags & FLAG_MULTI_CONSUMER ? 'multi' : 'single';
    this.fingerprint = header.fingerprint;
    const buffer = shm.buffer;
    this.#i32 = new Int32Array(buffer);
    this.#u32 = new Uint32Array(buffer);
    this.#f64 = new Float64Array(buffer, 0, HEADER_BYTES / 8);
    this.#bytes = new Uint8Array(buffer);
    this.#mask = header.capacity - 1;
    this.#spinUs = spinUs;
    this.#tail = Atomics.load(this.#i32, TAIL);
    this.#headSeen = Atomics.load(this.#i32, HEAD);
    this.#head = this.#headSeen;
    this.#tailSeen = this.#tail;
  }

  /**
   * Creates a ring in a new shm object of 512 + capacityBytes bytes.
   * @throws `EEXIST` if the name exists; RangeError/TypeError for bad options.
   */
  static create(name: string, options: RingBufferCreateOptions): RingBuffer {
    return RingBuffer.createWithFingerprint(name, options, 0);
  }

  /** @internal Used by TypedQueue to stamp its schema fingerprint. */
  static createWithFingerprint(name: string, options: RingBufferCreateOptions, fingerprint: number): RingBuffer {
    const opts = validateOptions(options);
    const capacity = RingBuffer.#capacity(opts.capacityBytes);
    const flags =
      RingBuffer.#side(opts.producers, 'options.producers', FLAG_MULTI_PRODUCER) |
      RingBuffer.#side(opts.consumers, 'options.consumers', FLAG_MULTI_CONSUMER);
    const spinUs = validateSpinUs(opts.spinUs);
    const { shm, header } = createRingMapping(name, { capacity, flags, fingerprint, mode: opts.mode });
    return new RingBuffer(shm, header, spinUs);
  }

  /**
   * Opens an existing ring, validating its header against the object's real size.
   * @throws `ENOENT`; `ERR_SHMKIT_RING_FORMAT` if it is not a valid ring of this version.
   */
  static open(name: string, options?: RingBufferOpenOptions): RingBuffer {
    const spinUs = validateSpinUs(validateOptions(options).spinUs);
    const { shm, header } = openRingMapping(name);
    return new RingBuffer(shm, header, spinUs);
  }

  /** Opens the ring, or creates it with `options` if it does not exist. */
  static openOrCreate(name: string, options: RingBufferCreateOptions): RingBuffer {
    try {
      return RingBuffer.open(name, { spinUs: options?.spinUs });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    try {
      return RingBuffer.create(name, options);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return RingBuffer.open(name, { spinUs: options?.spinUs });
    }
  }

  /** Removes the ring's name (shm_unlink(3)). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  static #capacity(value: unknown): number {
    const requested = validateInteger(value, 'options.capacityBytes', 1, MAX_CAPACITY);
    return Math.max(MIN_CAPACITY, nextPowerOfTwo(requested));
  }

  static #side(value: unknown, name: string, flag: number): number {
    if (value === undefined || value === 'single') return 0;
    if (value === 'multi') return flag;
    throw typeError(name, "'single' or 'multi'", value);
  }

  // ---------------------------------------------------------------- producer

  /** Pushes a copy of `bytes` if there is room now; returns false when full (never waits). */
  tryPush(bytes: Uint8Array): boolean {
    validateBytes(bytes, 'bytes');
    this.#checkLength(bytes.length);
    if (!this.#beginProducing()) return false;
    try {
      const offset = this.#reserve(bytes.length);
      if (offset < 0) return false;
      this.#bytes.set(bytes, this.#payloadStart(offset));
      this.#publish(offset, bytes.length);
      return true;
    } finally {
      this.#endProducing();
    }
  }

  /**
   * Pushes as many of `list` as fit now, in order, publishing them at once
   * (one index store, at most one wake). Returns how many were pushed.
   */
  tryPushMany(list: readonly Uint8Array[]): number {
    if (!Array.isArray(list)) throw typeError('list', 'an array of Uint8Array', list);
    this.#checkProducer();
    for (const [i, bytes] of list.entries()) this.#checkLength(validateBytes(bytes, `list[${i}]`).length);
    if (!this.#beginProducing()) return 0;
    let pushed = 0;
    try {
      for (const bytes of list) {
        const offset = this.#reserve(bytes.length);
        if (offset < 0) break;
        this.#bytes.set(bytes, this.#payloadStart(offset));
        this.#writeFrame(offset, bytes.length);
        pushed++;
      }
      if (pushed > 0) this.#commitTail();
      return pushed;
    } finally {
      this.#endProducing();
    }
  }

  /**
   * Pushes a copy of `bytes`, blocking this thread while the ring is full
   * (backpressure). For workers and scripts.
   * @throws `ETIMEDOUT` after `timeoutMs`; RangeError if larger than maxMessageBytes.
   */
  pushSync(bytes: Uint8Array, options?: SyncWaitOptions): void {
    const timeoutMs = syncTimeoutMs(options);
    if (this.tryPush(bytes)) return; // a deadline matters only once we must wait
    const deadline = deadlineOf(timeoutMs);
    while (!this.tryPush(bytes)) this.#waitSync(this.#space(frameBytes(bytes.length)), deadline, options?.timeoutMs);
  }

  /**
   * Pushes a copy of `bytes`, waiting without blocking the event loop while
   * the ring is full (backpressure).
   * @throws (rejects) `ETIMEDOUT`, an `AbortError`, `ERR_SHMKIT_CLOSED`.
   */
  async push(bytes: Uint8Array, options?: WaitOptions): Promise<void> {
    validateBytes(bytes, 'bytes');
    const opts = validateOptions(options);
    const deadline = deadlineOf(validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs'));
    while (!this.tryPush(bytes)) await this.#wait(this.#space(frameBytes(bytes.length)), deadline, opts);
  }

  /** Pushes every message of `list` in order, waiting for space as needed. */
  async pushMany(list: readonly Uint8Array[], options?: WaitOptions): Promise<void> {
    const opts = validateOptions(options);
    const deadline = deadlineOf(validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs'));
    let rest = list;
    for (;;) {
      const pushed = this.tryPushMany(rest);
      if (pushed === rest.length) return;
      rest = rest.slice(pushed);
      await this.#wait(this.#space(frameBytes((rest[0] as Uint8Array).length)), deadline, opts);
    }
  }

  /**
   * Zero-copy push: reserves room for a `length`-byte message and returns a
   * writable view of it, or undefined when the ring is full now. Fill the
   * view, then commit() (publish) or abort(). On a multi-producer ring the
   * producer lock is held until then.
   */
  claim(length: number): Uint8Array | undefined {
    this.#checkProducer();
    validateInteger(length, 'length', 0, this.maxMessageBytes);
    if (!this.#beginProducing()) return undefined;
    const offset = this.#reserve(length);
    if (offset < 0) {
      this.#endProducing();
      return undefined;
    }
    this.#claimOffset = offset;
    this.#claimLength = length;
    const start = this.#payloadStart(offset);
    return this.#bytes.subarray(start, start + length);
  }

  /** Like claim(), but blocks this thread until there is room. @throws `ETIMEDOUT` */
  claimSync(length: number, options?: SyncWaitOptions): Uint8Array {
    validateInteger(length, 'length', 0, this.maxMessageBytes);
    const deadline = deadlineOf(validateTimeoutMs(validateOptions(options).timeoutMs, 'options.timeoutMs'));
    for (;;) {
      const view = this.claim(length);
      if (view) return view;
      this.#waitSync(this.#space(frameBytes(length)), deadline, options?.timeoutMs);
    }
  }

  /**
   * Publishes the claimed message, optionally shortened to its first
   * `length` bytes (an encoder that claimed its worst case).
   */
  commit(length?: number): void {
    const claimed = this.#claimLength;
    if (length !== undefined) validateInteger(length, 'length', 0, claimed);
    const offset = this.#takeClaim();
    try {
      this.#publish(offset, length ?? claimed);
    } finally {
      this.#endProducing();
    }
  }

  /** Drops the claimed message: nothing is published. */
  abort(): void {
    this.#takeClaim();
    this.#endProducing();
  }

  // ---------------------------------------------------------------- consumer

  /** Pops the next message as a copy the caller owns, or undefined if the ring is empty (never waits). */
  tryPop(): Uint8Array | undefined {
    this.#checkConsumer();
    if (!this.#beginConsuming()) return undefined;
    try {
      const offset = this.#nextFrame();
      if (offset < 0) return undefined;
      const length = this.#frameLength;
      const start = this.#payloadStart(offset);
      const message = this.#bytes.slice(start, start + length);
      this.#advanceHead(length);
      return message;
    } finally {
      this.#endConsuming();
    }
  }

  /**
   * Pops the next message into `target` (copying it, no allocation): returns
   * its length in bytes, or -1 if the ring is empty (never waits). For large
   * messages this avoids a fresh buffer (and its page faults) per pop.
   * @throws RangeError (`ERR_OUT_OF_RANGE`) if the message is longer than
   * `target`; the message then stays in the ring.
   */
  tryPopInto(target: Uint8Array): number {
    validateBytes(target, 'target');
    this.#checkConsumer();
    if (!this.#beginConsuming()) return -1;
    try {
      const offset = this.#nextFrame();
      if (offset < 0) return -1;
      const length = this.#frameLength;
      if (length > target.length) {
        throw codedError(
          'ERR_OUT_OF_RANGE',
          `the next message has ${length} bytes; target holds ${target.length}`,
          RangeError,
        );
      }
      const start = this.#payloadStart(offset);
      target.set(this.#bytes.subarray(start, start + length));
      this.#advanceHead(length);
      return length;
    } finally {
      this.#endConsuming();
    }
  }

  /** Like tryPopInto(), blocking this thread while the ring is empty. @throws `ETIMEDOUT` */
  popIntoSync(target: Uint8Array, options?: SyncWaitOptions): number {
    const timeoutMs = syncTimeoutMs(options);
    const ready = this.tryPopInto(target);
    if (ready >= 0) return ready;
    const deadline = deadlineOf(timeoutMs);
    for (;;) {
      this.#waitSync(this.#data(), deadline, options?.timeoutMs);
      const length = this.tryPopInto(target);
      if (length >= 0) return length;
    }
  }

  /** Like tryPopInto(), waiting without blocking the event loop. */
  async popInto(target: Uint8Array, options?: WaitOptions): Promise<number> {
    const opts = validateOptions(options);
    const deadline = deadlineOf(validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs'));
    for (;;) {
      const length = this.tryPopInto(target);
      if (length >= 0) return length;
      await this.#wait(this.#data(), deadline, opts);
    }
  }

  /**
   * Pops the next message, blocking this thread while the ring is empty.
   * @throws `ETIMEDOUT` after `timeoutMs`.
   */
  popSync(options?: SyncWaitOptions): Uint8Array {
    const timeoutMs = syncTimeoutMs(options);
    const ready = this.tryPop();
    if (ready) return ready; // a deadline matters only once we must wait
    const deadline = deadlineOf(timeoutMs);
    for (;;) {
      const message = this.tryPop();
      if (message) return message;
      this.#waitSync(this.#data(), deadline, options?.timeoutMs);
    }
  }

  /**
   * Pops the next message, waiting without blocking the event loop.
   * @throws (rejects) `ETIMEDOUT`, an `AbortError`, `ERR_SHMKIT_CLOSED`.
   */
  async pop(options?: WaitOptions): Promise<Uint8Array> {
    const opts = validateOptions(options);
    const deadline = deadlineOf(validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs'));
    for (;;) {
      const message = this.tryPop();
      if (message) return message;
      await this.#wait(this.#data(), deadline, opts);
    }
  }

  /**
   * Zero-copy pop: a view of the next message in the ring, or undefined if
   * empty. The view is valid until release(), which frees its space. On a
   * multi-consumer ring the consumer lock is held until then.
   */
  peek(): Uint8Array | undefined {
    this.#checkConsumer();
    if (!this.#beginConsuming()) return undefined;
    const offset = this.#nextFrame();
    if (offset < 0) {
      this.#endConsuming();
      return undefined;
    }
    const length = this.#frameLength;
    this.#peekLength = length;
    const start = this.#payloadStart(offset);
    return this.#bytes.subarray(start, start + length);
  }

  /** Like peek(), but blocks this thread until a message arrives. @throws `ETIMEDOUT` */
  peekSync(options?: SyncWaitOptions): Uint8Array {
    const deadline = deadlineOf(validateTimeoutMs(validateOptions(options).timeoutMs, 'options.timeoutMs'));
    for (;;) {
      const view = this.peek();
      if (view) return view;
      this.#waitSync(this.#data(), deadline, options?.timeoutMs);
    }
  }

  /** Frees the message returned by peek(). */
  release(): void {
    this.#check();
    const length = this.#peekLength;
    if (length < 0) throw codedError('ERR_SHMKIT_NO_PEEK', 'nothing to release: peek() first');
    this.#peekLength = -1;
    try {
      this.#advanceHead(length);
    } finally {
      this.#endConsuming();
    }
  }

  /**
   * Yields every message as it arrives, draining all that are available per
   * wake-up. Ends when this handle is closed.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.closed) return;
      let message = this.tryPop();
      while (message) {
        yield message;
        message = this.closed ? undefined : this.tryPop();
      }
      try {
        await this.#wait(this.#data(), Number.POSITIVE_INFINITY, {});
      } catch (error) {
        if (error instanceof ClosedError) return;
        throw error;
      }
    }
  }

  // ---------------------------------------------------------------- misc

  /** The shared counters of this ring. */
  stats(): RingStats {
    this.#check();
    const f = this.#f64;
    const pushedMessages = f[f64(OFFSET.pushedMessages)] as number;
    const poppedMessages = f[f64(OFFSET.poppedMessages)] as number;
    return {
      pushedMessages,
      pushedBytes: f[f64(OFFSET.pushedBytes)] as number,
      poppedMessages,
      poppedBytes: f[f64(OFFSET.poppedBytes)] as number,
      depthMessages: Math.max(0, pushedMessages - poppedMessages),
      depthBytes: (Atomics.load(this.#i32, TAIL) - Atomics.load(this.#i32, HEAD)) >>> 0,
      highWaterBytes: f[f64(OFFSET.highWaterBytes)] as number,
      producerParks: f[f64(OFFSET.producerParks)] as number,
      producerWakes: f[f64(OFFSET.producerWakes)] as number,
      consumerParks: f[f64(OFFSET.consumerParks)] as number,
      consumerWakes: f[f64(OFFSET.consumerWakes)] as number,
      lockRecoveries: f[f64(OFFSET.lockRecoveries)] as number,
    };
  }

  get closed(): boolean {
    return this.#shm.closed;
  }

  /**
   * Unmaps this handle; safe twice. Its pending waits reject with
   * `ERR_SHMKIT_CLOSED` (an async iterator just ends). The ring stays (see unlink()).
   */
  close(): void {
    if (this.#shm.closed) return;
    if (this.#claimOffset >= 0) this.abort();
    if (this.#peekLength >= 0) {
      this.#peekLength = -1;
      this.#endConsuming();
    }
    this.#shm.close();
  }

  /** Removes the ring's name (shm_unlink(3)). */
  unlink(): void {
    SharedMemory.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------- internals

  #check(): void {
    if (this.#shm.closed) throw useAfterClose(`RingBuffer '${this.name}'`);
  }

  /** A claim holds the producer's place (and lock): nothing else may push until commit()/abort(). */
  #checkProducer(): void {
    this.#check();
    if (this.#claimOffset >= 0) {
      throw codedError('ERR_SHMKIT_CLAIM_PENDING', 'commit() or abort() the pending claim first');
    }
  }

  /** A peek holds the consumer's place (and lock): nothing else may pop until release(). */
  #checkConsumer(): void {
    this.#check();
    if (this.#peekLength >= 0) {
      throw codedError('ERR_SHMKIT_PEEK_PENDING', 'release() the pending peek first');
    }
  }

  #payloadStart(offset: number): number {
    return HEADER_BYTES + offset + FRAME_HEADER_BYTES;
  }

  #checkLength(length: number): void {
    this.#checkProducer();
    if (length > this.maxMessageBytes) {
      throw codedError(
        'ERR_OUT_OF_RANGE',
        `message of ${length} bytes exceeds this ring's maxMessageBytes (${this.maxMessageBytes})`,
        RangeError,
      );
    }
  }

  /**
   * Finds room for a frame of `length` payload bytes at the producer's tail,
   * first publishing a wrap marker if the frame would not fit before the end.
   * Returns the frame's offset in the data area, or -1 when there is no room.
   */
  #reserve(length: number): number {
    const need = frameBytes(length);
    let offset = this.#tail & this.#mask;
    const toEnd = this.capacityBytes - offset;
    if (need > toEnd) {
      if (!this.#hasRoom(toEnd)) return -1;
      this.#u32[(HEADER_BYTES + offset) >> 2] = WRAP_MARKER;
      this.#tail = (this.#tail + toEnd) | 0;
      // Published at once, so a consumer frees the space we now wait for.
      this.#storeTail();
      offset = 0;
    }
    return this.#hasRoom(need) ? offset : -1;
  }

  #hasRoom(bytes: number): boolean {
    if (((this.#tail - this.#headSeen) >>> 0) + bytes <= this.capacityBytes) return true;
    this.#headSeen = Atomics.load(this.#i32, HEAD);
    const used = (this.#tail - this.#headSeen) >>> 0;
    if (used > this.capacityBytes) throw ringError(this.name, `head/tail say ${used} bytes are in use`);
    return used + bytes <= this.capacityBytes;
  }

  #writeFrame(offset: number, length: number): void {
    const at = (HEADER_BYTES + offset) >> 2;
    this.#u32[at + 1] = 0;
    this.#u32[at] = length;
    this.#tail = (this.#tail + frameBytes(length)) | 0;
    const f = this.#f64;
    f[f64(OFFSET.pushedMessages)] = (f[f64(OFFSET.pushedMessages)] as number) + 1;
    f[f64(OFFSET.pushedBytes)] = (f[f64(OFFSET.pushedBytes)] as number) + length;
  }

  #publish(offset: number, length: number): void {
    this.#writeFrame(offset, length);
    this.#commitTail();
  }

  /** Publishes every frame written so far and records the high-water mark. */
  #commitTail(): void {
    this.#storeTail();
    const used = (this.#tail - this.#headSeen) >>> 0;
    const f = this.#f64;
    if (used > (f[f64(OFFSET.highWaterBytes)] as number)) f[f64(OFFSET.highWaterBytes)] = used;
  }

  /**
   * Whether this caller must wake the other side: its "may sleep" bit was up
   * and we lowered it (advancing the epoch). The plain load keeps the common
   * case free of a locked instruction; the CAS lets one waker per sleep pay
   * the wake system call.
   */
  #claimSleeper(word: number): boolean {
    for (;;) {
      const seen = Atomics.load(this.#i32, word);
      if ((seen & 1) === 0) return false;
      // Lower the bit and advance the epoch in one step: every sleeper's
      // expected value is now stale, so none can fall asleep on it.
      if (Atomics.compareExchange(this.#i32, word, seen, (seen + 1) | 0) === seen) return true;
    }
  }

  /** Publishes the tail, then wakes parked consumers if the header says any sleep. */
  #storeTail(): void {
    this.#publishIndex(TAIL, this.#tail, CONSUMER_SLEEPING, OFFSET.consumerWakes);
  }

  /**
   * Finds the next frame at the consumer's head, skipping wrap markers, and
   * checks it against the published tail. Returns its offset, or -1 if empty.
   */
  #nextFrame(): number {
    for (;;) {
      if (this.#head === this.#tailSeen) {
        this.#tailSeen = Atomics.load(this.#i32, TAIL);
        if (this.#head === this.#tailSeen) return -1;
      }
      if (((this.#head | this.#tailSeen) & (FRAME_ALIGN - 1)) !== 0) {
        throw ringError(this.name, `head ${this.#head >>> 0} or tail ${this.#tailSeen >>> 0} is not 8-aligned`);
      }
      const available = (this.#tailSeen - this.#head) >>> 0;
      if (available > this.capacityBytes) throw ringError(this.name, `head/tail say ${available} bytes are in use`);
      const offset = this.#head & this.#mask;
      const toEnd = this.capacityBytes - offset;
      const length = this.#u32[(HEADER_BYTES + offset) >> 2] as number;
      if (length === WRAP_MARKER) {
        if (toEnd > available) throw ringError(this.name, `wrap marker at ${offset} past the published tail`);
        // Free the skipped space now: a producer may be waiting for it.
        this.#head = (this.#head + toEnd) | 0;
        this.#storeHead();
        continue;
      }
      if (length > this.maxMessageBytes || frameBytes(length) > Math.min(toEnd, available)) {
        throw ringError(this.name, `frame at ${offset} claims ${length} bytes`);
      }
      this.#frameLength = length;
      return offset;
    }
  }

  /** Frees the frame at the head (of `length` payload bytes). */
  #advanceHead(length: number): void {
    this.#head = (this.#head + frameBytes(length)) | 0;
    const f = this.#f64;
    f[f64(OFFSET.poppedMessages)] = (f[f64(OFFSET.poppedMessages)] as number) + 1;
    f[f64(OFFSET.poppedBytes)] = (f[f64(OFFSET.poppedBytes)] as number) + length;
    this.#storeHead();
  }

  /** Publishes the head, then wakes parked producers if the header says any sleep. */
  #storeHead(): void {
    this.#publishIndex(HEAD, this.#head, PRODUCER_SLEEPING, OFFSET.producerWakes);
  }

  /**
   * Stores an index, then wakes every sleeper of the other side if its flag
   * was raised (store index, then load flag: see docs/ring-format.md).
   */
  #publishIndex(index: number, value: number, sleeping: number, wakesOffset: number): void {
    Atomics.store(this.#i32, index, value);
    if (this.#claimSleeper(sleeping)) {
      this.#f64[f64(wakesOffset)] = (this.#f64[f64(wakesOffset)] as number) + 1;
      wakeWord(this.#i32, sleeping, INT32_MAX);
    }
  }

  /** Ends the pending claim; returns its frame offset. */
  #takeClaim(): number {
    this.#check();
    const offset = this.#claimOffset;
    if (offset < 0) throw codedError('ERR_SHMKIT_NO_CLAIM', 'nothing claimed: claim() first');
    this.#claimOffset = -1;
    return offset;
  }

  // ---------------------------------------------------------------- waiting

  /** Spins up to spinUs for `ready()`; true if it became ready. */
  #spin(ready: () => boolean): boolean {
    if (this.#spinUs === 0) return false;
    const until = performance.now() + this.#spinUs / 1000;
    for (let i = 1; ; i++) {
      if (ready()) return true;
      if ((i & 63) === 0 && performance.now() >= until) return false;
    }
  }

  /** What a waiting consumer waits for: a message (tail moved past head). */
  #data(): WaitSide {
    const multi = this.consumers === 'multi';
    const ready = () => Atomics.load(this.#i32, TAIL) !== (multi ? Atomics.load(this.#i32, HEAD) : this.#head);
    return { ready, multi, lock: CONSUMER_LOCK, word: CONSUMER_SLEEPING, parks: OFFSET.consumerParks };
  }

  /** What a waiting producer waits for: room for a frame of `bytes`. */
  #space(bytes: number): WaitSide {
    const multi = this.producers === 'multi';
    const ready = () => {
      const tail = multi ? Atomics.load(this.#i32, TAIL) : this.#tail;
      return ((tail - Atomics.load(this.#i32, HEAD)) >>> 0) + bytes <= this.capacityBytes;
    };
    return { ready, multi, lock: PRODUCER_LOCK, word: PRODUCER_SLEEPING, parks: OFFSET.producerParks };
  }

  /**
   * Blocks this thread until `side` may be ready: spins for spinUs, then
   * parks on the side's wait word. If it is ready already, the try-operation
   * failed on the side's lock (held by another process): wait for that.
   */
  #waitSync(side: WaitSide, deadline: number, timeoutMs: number | undefined): void {
    this.#check();
    if (side.multi && side.ready()) {
      this.#awaitLockSync(side.lock, deadline, timeoutMs);
      return;
    }
    if (this.#spin(side.ready)) return;
    const expected = this.#enterPark(side.word, side.parks);
    if (!side.ready()) this.#sleepSync(side.word, expected, deadline, timeoutMs);
  }

  /** Like #waitSync, without blocking the event loop. */
  async #wait(side: WaitSide, deadline: number, options: WaitOptions): Promise<void> {
    this.#check();
    if (side.multi && side.ready()) {
      await this.#awaitLock(side.lock, deadline, options);
      return;
    }
    if (this.#spin(side.ready)) return;
    const expected = this.#enterPark(side.word, side.parks);
    if (!side.ready()) await this.#sleep(side.word, expected, deadline, options);
  }

  /**
   * Raises the "may sleep" bit of the side's wait word (bit 0; bits 1..31
   * are an epoch that wakers advance) before the last check of the index, so
   * a waker's "store index; load word" cannot miss us. Returns the word's
   * value to sleep on. Only wakers lower the bit.
   */
  #enterPark(word: number, parks: number): number {
    this.#f64[f64(parks)] = (this.#f64[f64(parks)] as number) + 1;
    for (;;) {
      const seen = Atomics.load(this.#i32, word);
      if ((seen & 1) !== 0) return seen; // raised already, by us earlier or another sleeper
      if (Atomics.compareExchange(this.#i32, word, seen, seen | 1) === seen) return seen | 1;
    }
  }

  /**
   * Sleeps on the side's wait word while it still holds `expected`: any
   * waker since we raised the bit has advanced the epoch, so the kernel
   * refuses the sleep instead of letting us miss that wake.
   */
  #sleepSync(word: number, expected: number, deadline: number, timeoutMs: number | undefined): void {
    const left = remainingMs(deadline);
    if (left === 0) throw timeoutError('futex', this.name, timeoutMs ?? 0);
    sleepWordSync(this.#i32, word, expected, left);
  }

  async #sleep(word: number, expected: number, deadline: number, options: WaitOptions): Promise<void> {
    const left = remainingMs(deadline);
    if (left === 0) throw timeoutError('futex', this.name, options.timeoutMs ?? 0);
    const timeoutMs = left < 0 ? undefined : left;
    await sleepWord(this.#i32, word, expected, { timeoutMs, signal: options.signal, ref: options.ref });
  }

  /**
   * Takes the producer side (the lock on a multi-producer ring), then the
   * tail others moved; false if another process holds the lock right now.
   */
  #beginProducing(): boolean {
    if (this.producers === 'multi' && !this.#tryLock(PRODUCER_LOCK)) return false;
    // Reloaded even when single: this handle may have been idle while
    // another handle moved the tail. Then our cached head may be a lap (or
    // 2^32 bytes) old and alias a valid-looking value: reload it too.
    const tail = Atomics.load(this.#i32, TAIL);
    if (tail !== this.#tail) this.#headSeen = Atomics.load(this.#i32, HEAD);
    this.#tail = tail;
    if ((this.#tail & (FRAME_ALIGN - 1)) !== 0) {
      this.#endProducing();
      throw ringError(this.name, `tail ${this.#tail >>> 0} is not 8-aligned`);
    }
    return true;
  }

  #endProducing(): void {
    if (this.producers === 'multi') this.#unlock(PRODUCER_LOCK);
  }

  /**
   * Takes the consumer side (the lock on a multi-consumer ring), then the
   * head others moved; false if another process holds the lock right now.
   */
  #beginConsuming(): boolean {
    if (this.consumers === 'multi' && !this.#tryLock(CONSUMER_LOCK)) return false;
    // The cached tail stays valid while no other handle moved the head (it is
    // only stale then, and reloaded when head reaches it): this keeps the
    // producer's cache line out of most pops.
    const head = Atomics.load(this.#i32, HEAD);
    if (head !== this.#head) this.#tailSeen = Atomics.load(this.#i32, TAIL);
    this.#head = head;
    return true;
  }

  #endConsuming(): void {
    if (this.consumers === 'multi') this.#unlock(CONSUMER_LOCK);
  }

  /**
   * Tries to take a side's lock without sleeping: a short CAS spin
   * (critical sections are one copy long), then one robust attempt, which
   * takes over a dead owner's lock. A dead owner left nothing half-published:
   * indices move only at the end. Waiting for a held lock is the callers'
   * job (#awaitLock / #awaitLockSync), with their deadline and signal.
   */
  #tryLock(index: number): boolean {
    for (let i = 0; i < LOCK_SPINS; i++) {
      if (Atomics.load(this.#i32, index) === 0 && Atomics.compareExchange(this.#i32, index, 0, this.#pid) === 0) {
        return true;
      }
    }
    const outcome = tryLockWord(this.#i32, index, this.#pid);
    if (outcome?.ownerDied) this.#countRecovery();
    return outcome !== undefined;
  }

  #countRecovery(): void {
    this.#f64[f64(OFFSET.lockRecoveries)] = (this.#f64[f64(OFFSET.lockRecoveries)] as number) + 1;
  }

  #lockName(index: number): string {
    return `${this.name} ${index === PRODUCER_LOCK ? 'producer' : 'consumer'} lock`;
  }

  /**
   * Waits until a side's lock is free (taking and at once releasing it, so
   * a dead owner's lock is recovered), blocking this thread. The caller
   * then retries its try-operation.
   */
  #awaitLockSync(index: number, deadline: number, timeoutMs: number | undefined): void {
    const left = remainingMs(deadline);
    if (left === 0) throw timeoutError('futex', this.#lockName(index), timeoutMs ?? 0);
    if (lockWordSync(this.#i32, index, this.#pid, left, this.#lockName(index)).ownerDied) this.#countRecovery();
    this.#unlock(index);
  }

  /** Like #awaitLockSync, without blocking the event loop. */
  async #awaitLock(index: number, deadline: number, options: WaitOptions): Promise<void> {
    const left = remainingMs(deadline);
    if (left === 0) throw timeoutError('futex', this.#lockName(index), options.timeoutMs ?? 0);
    const wait = { ...options, timeoutMs: left < 0 ? undefined : left };
    if ((await lockWord(this.#i32, index, this.#pid, wait, this.#lockName(index))).ownerDied) this.#countRecovery();
    this.#unlock(index);
  }

  #unlock(index: number): void {
    unlockWord(this.#i32, index, this.#pid, `${this.name} lock`);
  }
}
