/**
 * The public RingBuffer class, assembled from one file per concern:
 * ./header.ts creates and opens the shm object, ./indices.ts says where
 * frames go, ./park.ts waits and wakes, ./side-lock.ts guards the sides of
 * a multi ring.
 */

import { deadlineOf } from '../../core/deadline.js';
import { AbortError, ClosedError, codedError, useAfterClose } from '../../core/errors.js';
import { parseWaitOptions, parseWaitSyncOptions, type WaitOptions, type WaitSyncOptions } from '../../core/pending.js';
import { typeError, validateInteger, validateOptions } from '../../core/validate.js';
import { SharedMemory } from '../../primitives/shm.js';
import {
  FLAG_MULTI_CONSUMER,
  FLAG_MULTI_PRODUCER,
  FRAME_HEADER_BYTES,
  f64,
  frameBytes,
  HEADER_BYTES,
  MAX_CAPACITY,
  MIN_CAPACITY,
  nextPowerOfTwo,
  OFFSET,
  word,
} from './format.js';
import { createRingMapping, openRingMapping, type RingHeader } from './header.js';
import { ConsumerIndex, capacityFor, depthBytes, ProducerIndex, payloadStart } from './indices.js';
import { Parker, type WaitSide } from './park.js';
import { SideLock } from './side-lock.js';

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
const CONSUMER_SLEEPING = word(OFFSET.consumerSleeping);
const PRODUCER_SLEEPING = word(OFFSET.producerSleeping);

function validateSpinUs(value: unknown): number {
  return value === undefined ? DEFAULT_SPIN_US : validateInteger(value, 'options.spinUs', 0, 1_000_000);
}

/** An aborted signal ends an iteration with the AbortError every shmkit wait rejects with. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

function validateBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw typeError(name, 'a Uint8Array or Buffer', value);
  return value;
}

/**
 * Variable-length messages between processes through one POSIX shared-memory
 * object: a 512-byte header and a data area of `capacityBytes` (a power of
 * two). The layout is a public, versioned format (docs/ring-format.md), so a
 * C program can be either side.
 *
 * **Sides.** A single-producer/single-consumer ring (the default) is
 * lock-free: the producer owns the tail, the consumer the head, both
 * published with Atomics. With `producers: 'multi'` (or `consumers`) a
 * robust lock in the header guards that side; a process that dies holding
 * it does not stall the ring (the next one takes the lock over, counted in
 * `stats().lockRecoveries`).
 *
 * **Waiting.** Every operation comes in the house forms: `tryPush`/`tryPop`
 * never wait; `pushSync`/`popSync` block this thread (for workers and
 * scripts) up to `timeoutMs`; `push`/`pop` return a Promise and take
 * `timeoutMs`, an AbortSignal and `ref`. A waiting side spins for `spinUs`,
 * then sleeps on a futex (futex(2)) in the header. A push or pop stays in
 * JavaScript unless it has to sleep or wake a sleeper. Zero-copy forms:
 * claim()/commit() and peek()/release(); batches: tryPushMany()/pushMany().
 * A consumer loop is `for await (const message of ring.iterate({ signal }))`
 * (see {@link RingBuffer.iterate}): an abort ends it with an AbortError even
 * while it sleeps, close() ends it quietly.
 *
 * **Errors, by `code`.** `EEXIST`/`ENOENT`/`EACCES` from shm_open(3) when
 * creating or opening; `ERR_SHMKIT_RING_FORMAT` when opening something that
 * is not a ring of this format version; `ERR_OUT_OF_RANGE` (RangeError) for
 * a message larger than `maxMessageBytes` (the message names the
 * `capacityBytes` that would take it); `ETIMEDOUT` when `timeoutMs`
 * (milliseconds, on CLOCK_MONOTONIC) runs out;
 * `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM` on a host without futex(2) or a
 * big-endian one; `ABORT_ERR` (an AbortError) when the signal aborts;
 * `ERR_SHMKIT_CLOSED` after close() (pending waits reject with a
 * ClosedError); `ERR_SHMKIT_RING_CORRUPT` when a peer wrote indices or
 * frames that make no sense (never an out-of-bounds read);
 * `ERR_SHMKIT_CLAIM_PENDING`/`ERR_SHMKIT_PEEK_PENDING`/`ERR_SHMKIT_NO_CLAIM`/`ERR_SHMKIT_NO_PEEK`
 * for zero-copy calls out of order. Bad arguments throw TypeError/RangeError
 * naming the argument.
 *
 * @example
 * ```ts
 * const ring = RingBuffer.create('/jobs', { capacityBytes: 1 << 20 });
 * ring.tryPush(Buffer.from('hello'));
 * const message = await RingBuffer.open('/jobs').pop({ timeoutMs: 1000 });
 * ```
 */
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
  readonly #f64: Float64Array;
  readonly #bytes: Uint8Array; // the whole mapping
  readonly #producer: ProducerIndex;
  readonly #consumer: ConsumerIndex;
  /** The side locks of a multi ring (undefined on a single side). */
  readonly #producerLock: SideLock | undefined;
  readonly #consumerLock: SideLock | undefined;
  readonly #parker: Parker;
  // The frame between claim() and commit(), and between peek() and release().
  // (numbers, not objects: a zero-copy loop allocates nothing but its view)
  #claimOffset = -1;
  #claimLength = 0;
  #peekLength = -1;

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
    this.#f64 = new Float64Array(buffer, 0, HEADER_BYTES / 8);
    this.#bytes = new Uint8Array(buffer);
    const parker = new Parker(buffer, spinUs, this.name);
    this.#parker = parker;
    const multiProducer = this.producers === 'multi';
    const multiConsumer = this.consumers === 'multi';
    // Publishing an index wakes the other side if its wait word says it may sleep.
    this.#producer = new ProducerIndex(buffer, header.capacity, this.name, multiProducer, {
      word: CONSUMER_SLEEPING,
      wake: () => parker.wake(CONSUMER_SLEEPING, OFFSET.consumerWakes),
    });
    this.#consumer = new ConsumerIndex(buffer, header.capacity, this.name, multiConsumer, {
      word: PRODUCER_SLEEPING,
      wake: () => parker.wake(PRODUCER_SLEEPING, OFFSET.producerWakes),
    });
    this.#producerLock = multiProducer ? new SideLock(buffer, 'producer', this.name) : undefined;
    this.#consumerLock = multiConsumer ? new SideLock(buffer, 'consumer', this.name) : undefined;
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
      const offset = this.#producer.reserve(bytes.length);
      if (offset < 0) return false;
      this.#bytes.set(bytes, payloadStart(offset));
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
        const offset = this.#producer.reserve(bytes.length);
        if (offset < 0) break;
        this.#bytes.set(bytes, payloadStart(offset));
        this.#producer.write(offset, bytes.length);
        pushed++;
      }
      if (pushed > 0) this.#producer.commit();
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
  pushSync(bytes: Uint8Array, options?: WaitSyncOptions): void {
    const timeoutMs = parseWaitSyncOptions(options);
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
    const opts = parseWaitOptions(options);
    const deadline = deadlineOf(parseWaitSyncOptions(opts));
    while (!this.tryPush(bytes)) await this.#wait(this.#space(frameBytes(bytes.length)), deadline, opts);
  }

  /** Pushes every message of `list` in order, waiting for space as needed. */
  async pushMany(list: readonly Uint8Array[], options?: WaitOptions): Promise<void> {
    const opts = parseWaitOptions(options);
    const deadline = deadlineOf(parseWaitSyncOptions(opts));
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
    const offset = this.#producer.reserve(length);
    if (offset < 0) {
      this.#endProducing();
      return undefined;
    }
    this.#claimOffset = offset;
    this.#claimLength = length;
    const start = payloadStart(offset);
    return this.#bytes.subarray(start, start + length);
  }

  /** Like claim(), but blocks this thread until there is room. @throws `ETIMEDOUT` */
  claimSync(length: number, options?: WaitSyncOptions): Uint8Array {
    validateInteger(length, 'length', 0, this.maxMessageBytes);
    const deadline = deadlineOf(parseWaitSyncOptions(options));
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
      const offset = this.#consumer.next();
      if (offset < 0) return undefined;
      const length = this.#consumer.frameLength;
      const start = payloadStart(offset);
      const message = this.#bytes.slice(start, start + length);
      this.#consumer.advance(length);
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
      const offset = this.#consumer.next();
      if (offset < 0) return -1;
      const length = this.#consumer.frameLength;
      if (length > target.length) {
        throw codedError(
          'ERR_OUT_OF_RANGE',
          `the next message of ring '${this.name}' has ${length} bytes and target holds only ${target.length}; ` +
            `a target of maxMessageBytes (${this.maxMessageBytes}) takes any message`,
          RangeError,
        );
      }
      const start = payloadStart(offset);
      target.set(this.#bytes.subarray(start, start + length));
      this.#consumer.advance(length);
      return length;
    } finally {
      this.#endConsuming();
    }
  }

  /** Like tryPopInto(), blocking this thread while the ring is empty. @throws `ETIMEDOUT` */
  popIntoSync(target: Uint8Array, options?: WaitSyncOptions): number {
    const timeoutMs = parseWaitSyncOptions(options);
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
    const opts = parseWaitOptions(options);
    const deadline = deadlineOf(parseWaitSyncOptions(opts));
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
  popSync(options?: WaitSyncOptions): Uint8Array {
    const timeoutMs = parseWaitSyncOptions(options);
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
    const opts = parseWaitOptions(options);
    const deadline = deadlineOf(parseWaitSyncOptions(opts));
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
    const offset = this.#consumer.next();
    if (offset < 0) {
      this.#endConsuming();
      return undefined;
    }
    const length = this.#consumer.frameLength;
    this.#peekLength = length;
    const start = payloadStart(offset);
    return this.#bytes.subarray(start, start + length);
  }

  /** Like peek(), but blocks this thread until a message arrives. @throws `ETIMEDOUT` */
  peekSync(options?: WaitSyncOptions): Uint8Array {
    const deadline = deadlineOf(parseWaitSyncOptions(options));
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
      this.#consumer.advance(length);
    } finally {
      this.#endConsuming();
    }
  }

  /**
   * `for await (const message of ring)`: every message as it arrives (copies
   * the caller owns), draining all that are available per wake-up; ends when
   * this handle is closed. The same as {@link iterate} without options.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.iterate();
  }

  /**
   * Like `for await (const message of ring)`, with the options of every
   * async wait, so that a consumer loop can be stopped while it sleeps:
   *
   * ```ts
   * for await (const message of ring.iterate({ signal })) handle(message);
   * ```
   *
   * - `signal`: when it aborts, the loop throws an `AbortError` (`code:
   *   'ABORT_ERR'`, `cause`: the signal's reason) at once, even while it is
   *   parked waiting for a message — as `events.on(emitter, name, { signal })`
   *   and every other shmkit wait do. Once the signal has aborted no further
   *   message is taken: one pushed after the abort stays in the ring for the
   *   next reader. To end a loop without an error, `break` out of it, or
   *   close() the handle.
   * - `timeoutMs`: the longest wait for the next message, in milliseconds,
   *   counted afresh after each one; then the loop throws `ETIMEDOUT`.
   * - `ref`: whether a wait for the next message keeps the process alive
   *   (default true).
   *
   * The loop ends quietly when this handle is closed. Options are checked
   * here, before the first message.
   * @throws TypeError/RangeError naming a bad option.
   */
  iterate(options?: WaitOptions): AsyncIterableIterator<Uint8Array> {
    return this.#messages(parseWaitOptions(options));
  }

  async *#messages(options: WaitOptions): AsyncGenerator<Uint8Array, void, undefined> {
    const { signal } = options;
    const timeoutMs = parseWaitSyncOptions(options);
    let deadline = deadlineOf(timeoutMs); // timeoutMs counts from the last message
    for (;;) {
      if (this.closed) return;
      throwIfAborted(signal);
      let message = this.tryPop();
      if (message) {
        while (message) {
          yield message;
          if (this.closed) return;
          throwIfAborted(signal); // before taking another, which then stays in the ring
          message = this.tryPop();
        }
        deadline = deadlineOf(timeoutMs);
      }
      try {
        await this.#wait(this.#data(), deadline, options);
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
      depthBytes: depthBytes(this.#i32),
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

  #checkLength(length: number): void {
    this.#checkProducer();
    if (length > this.maxMessageBytes) throw this.#tooLarge(length);
  }

  /** A message larger than this ring takes: names the ring, the sizes and the capacity that would fit it. */
  #tooLarge(length: number): RangeError {
    const fits = capacityFor(length);
    const remedy =
      fits <= MAX_CAPACITY
        ? `a ring created with capacityBytes: ${fits} takes it`
        : `no ring takes more than ${MAX_CAPACITY - FRAME_HEADER_BYTES} bytes: split the message`;
    return codedError(
      'ERR_OUT_OF_RANGE',
      `a message of ${length} bytes is too large for ring '${this.name}', which takes messages of at most ` +
        `${this.maxMessageBytes} bytes (capacityBytes: ${this.capacityBytes}); ${remedy}`,
      RangeError,
    );
  }

  /** Writes the frame header of a filled frame and publishes it (waking a sleeping consumer). */
  #publish(offset: number, length: number): void {
    this.#producer.write(offset, length);
    this.#producer.commit();
  }

  /** Ends the pending claim; returns its frame offset. */
  #takeClaim(): number {
    this.#check();
    const offset = this.#claimOffset;
    if (offset < 0) throw codedError('ERR_SHMKIT_NO_CLAIM', 'nothing claimed: claim() first');
    this.#claimOffset = -1;
    return offset;
  }

  /**
   * Takes the producer side (the lock on a multi-producer ring), then the
   * tail others moved; false if another process holds the lock right now.
   */
  #beginProducing(): boolean {
    const lock = this.#producerLock;
    if (lock !== undefined && !lock.tryLock()) return false;
    if (this.#producer.begin()) return true;
    this.#endProducing();
    throw this.#producer.misaligned();
  }

  #endProducing(): void {
    this.#producerLock?.unlock();
  }

  /**
   * Takes the consumer side (the lock on a multi-consumer ring), then the
   * head others moved; false if another process holds the lock right now.
   */
  #beginConsuming(): boolean {
    const lock = this.#consumerLock;
    if (lock !== undefined && !lock.tryLock()) return false;
    this.#consumer.begin();
    return true;
  }

  #endConsuming(): void {
    this.#consumerLock?.unlock();
  }

  // ---------------------------------------------------------------- waiting

  /** What a waiting consumer waits for: a message. */
  #data(): WaitSide {
    const consumer = this.#consumer;
    return {
      ready: () => consumer.hasMessage(),
      lock: this.#consumerLock,
      word: CONSUMER_SLEEPING,
      parks: OFFSET.consumerParks,
    };
  }

  /** What a waiting producer waits for: room for a frame of `bytes`. */
  #space(bytes: number): WaitSide {
    const producer = this.#producer;
    return {
      ready: () => producer.hasSpace(bytes),
      lock: this.#producerLock,
      word: PRODUCER_SLEEPING,
      parks: OFFSET.producerParks,
    };
  }

  /** Blocks this thread until `side` may be ready (./park.ts); the caller retries. */
  #waitSync(side: WaitSide, deadline: number, timeoutMs: number | undefined): void {
    this.#check();
    this.#parker.waitSync(side, deadline, timeoutMs);
  }

  /** Like #waitSync, without blocking the event loop. */
  #wait(side: WaitSide, deadline: number, options: WaitOptions): Promise<void> {
    this.#check();
    return this.#parker.wait(side, deadline, options);
  }
}
