/**
 * TypedQueue<T>: values, not bytes, over a {@link RingBuffer}.
 * See {@link TypedQueue} and docs/typed-queue.md.
 */

import { AbortError, ClosedError, codedError, useAfterClose } from '../core/errors.js';
import { parseWaitOptions, type WaitOptions, type WaitSyncOptions } from '../core/pending.js';
import { typeError, validateInteger, validateOptions } from '../core/validate.js';
import {
  BUILTIN_CODEC_FINGERPRINTS,
  type CodecError,
  type CodecKind,
  type CodecSpec,
  type ResolvedCodec,
  resolveCodec,
} from './codecs.js';
import { type RecordCodec, RecordCodec as RecordCodecClass, type RecordOf, type Schema } from './record-schema.js';
import { FRAME_ALIGN, frameBytes, MAX_CAPACITY } from './ring/format.js';
import { RingBuffer, type RingStats, type Side } from './ring/ring-buffer.js';

/** Options shared by both families of `TypedQueue.create`. */
export interface TypedQueueCommonOptions {
  /** Permission bits (default 0o600), masked by the umask. */
  mode?: number;
  /** 'single' (default): one producer process, lock-free. 'multi': producers take a lock. */
  producers?: Side;
  /** 'single' (default): one consumer process, lock-free. 'multi': consumers take a lock. */
  consumers?: Side;
  /** Microseconds to spin before parking on a futex (default 20; 0 parks at once). */
  spinUs?: number;
}

/** `TypedQueue.create(name, { schema, capacity })`: a queue of fixed-size records. */
export interface TypedQueueRecordOptions<S extends Schema> extends TypedQueueCommonOptions {
  /** Field name → field type, or a codec from compileSchema(). */
  schema: S | RecordCodec<S>;
  /** Records an empty queue holds at least (the ring is sized for it, see {@link recordCapacityBytes}). */
  capacity: number;
}

/** `TypedQueue.create(name, { codec, capacityBytes })`: a queue of encoded messages. */
export interface TypedQueueCodecOptions<T> extends TypedQueueCommonOptions {
  codec: CodecSpec<T>;
  /** Bytes of the ring's data area, rounded up to a power of two in [64, 2^30]; an encoded message may be up to capacityBytes - 8. */
  capacityBytes: number;
}

export type TypedQueueCreateOptions<T> = TypedQueueRecordOptions<Schema> | TypedQueueCodecOptions<T>;

/** `TypedQueue.open(name, { schema })`. */
export interface TypedQueueRecordOpenOptions<S extends Schema> {
  schema: S | RecordCodec<S>;
  /** Microseconds to spin before parking on a futex (default 20). */
  spinUs?: number;
}

/** `TypedQueue.open(name, { codec })`. */
export interface TypedQueueCodecOpenOptions<T> {
  codec: CodecSpec<T>;
  /** Microseconds to spin before parking on a futex (default 20). */
  spinUs?: number;
}

export type TypedQueueKind = 'records' | CodecKind;

/** An aborted signal ends an iteration with the AbortError every shmkit wait rejects with. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

/** Returned by the internal pop path when the ring is empty (a value may itself be undefined). */
const EMPTY: unique symbol = Symbol('empty');

/**
 * Ring bytes (data area, before rounding up to a power of two) that hold at
 * least `capacity` records of `recordByteLength` bytes from an empty ring:
 * every record takes frameBytes(recordByteLength) = 8-byte frame header +
 * record, padded to 8; a wrap marker can waste up to one frame minus 8 bytes
 * at the end of the data area. So: capacity × frame + frame − 8.
 */
export function recordCapacityBytes(recordByteLength: number, capacity: number): number {
  const frame = frameBytes(recordByteLength);
  return capacity * frame + frame - FRAME_ALIGN;
}

/** Records a ring of `capacityBytes` holds at least, from empty (the inverse of recordCapacityBytes). */
function recordsIn(capacityBytes: number, recordByteLength: number): number {
  const frame = frameBytes(recordByteLength);
  return Math.max(0, Math.floor((capacityBytes - frame + FRAME_ALIGN) / frame));
}

function compile<S extends Schema>(schema: unknown, name: string): RecordCodec<S> {
  if (schema instanceof RecordCodecClass) return schema as RecordCodec<S>;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw typeError(name, 'an object of field name to field type', schema);
  }
  return new RecordCodecClass(schema as S);
}

function describeSchema(records: RecordCodec): string {
  return `schema { ${records.fields.map((f) => `${f.name}: '${f.type}'`).join(', ')} }`;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

const UNNAMED_CUSTOM_FINGERPRINT = resolveCodec({ encode: () => new Uint8Array(0), decode: () => 0 }).fingerprint;

function mismatchError(name: string, expected: string, expectedFingerprint: number, found: number): Error {
  let what: string;
  if (found === 0) what = 'no schema or codec (a plain RingBuffer)';
  else if (BUILTIN_CODEC_FINGERPRINTS.has(found)) what = BUILTIN_CODEC_FINGERPRINTS.get(found) as string;
  else if (found === UNNAMED_CUSTOM_FINGERPRINT) what = 'an unnamed custom codec';
  else what = 'a different record schema or custom codec';
  const message =
    `TypedQueue '${name}' was created with ${what} (fingerprint ${hex(found)}), ` +
    `not with the ${expected} this process opens it with (fingerprint ${hex(expectedFingerprint)}): ` +
    'open it with the schema or codec it was created with';
  return Object.assign(codedError('ERR_SHMKIT_SCHEMA_MISMATCH', message), { expected: expectedFingerprint, found });
}

/**
 * A queue of values, not bytes, over a {@link RingBuffer} in shared memory
 * (shm_open(3); futex(2) to sleep and wake). Two families:
 * - records: fixed-size records from a schema (`{ ts: 'f64', qty: 'u32' }`,
 *   see {@link RecordCodec}), encoded straight into the ring with
 *   claim()/commit() and decoded from peek()/release(): no copy, no JSON;
 *   `popInto(target)` reuses the caller's object; `capacity` counts records;
 * - codec messages: 'json', 'v8' (structured clone), 'msgpack' (msgpackr, records), 'raw' or a user
 *   `{ encode, decode }`; `capacityBytes` counts bytes of the ring's data area.
 *
 * The ring's header carries a 32-bit fingerprint (FNV-1a) of the schema's
 * canonical description or of the codec kind, so opening a queue with another
 * schema or codec fails with `ERR_SHMKIT_SCHEMA_MISMATCH` instead of decoding
 * garbage. Timeouts are in milliseconds; async waits never block the event loop.
 * A consumer loop is `for await (const value of queue.iterate({ signal }))`
 * (see {@link TypedQueue.iterate}): an abort ends it with an AbortError even
 * while it sleeps, close() ends it quietly.
 *
 * Errors: `EEXIST`/`ENOENT`/`EACCES` (with `objectName`);
 * `ERR_SHMKIT_RING_FORMAT`; `ERR_SHMKIT_SCHEMA_MISMATCH`; `ERR_SHMKIT_ENCODE`
 * (a TypeError) when the codec fails on a value and `ERR_SHMKIT_DECODE` when it
 * fails on a message (see {@link CodecError}: the bad message is taken off the
 * queue, the ones behind it stay); `ETIMEDOUT`; an
 * `AbortError`; TypeError/RangeError naming a bad option, field or value; a
 * method called after close(), or a wait pending at close(), throws/rejects
 * with a `ClosedError` (`ERR_SHMKIT_CLOSED`).
 */
export class TypedQueue<T> implements Disposable, AsyncIterable<T> {
  /** The shm object's name. */
  readonly name: string;
  /** 'records' for a schema queue, else the codec kind. */
  readonly kind: TypedQueueKind;
  /** The compiled schema of a record queue (undefined for a codec queue). */
  readonly schema: RecordCodec | undefined;
  /** Bytes of one record (undefined for a codec queue). */
  readonly recordByteLength: number | undefined;
  /** Records an empty queue holds at least (undefined for a codec queue). */
  readonly capacity: number | undefined;
  /** Bytes of the ring's data area (a power of two). */
  readonly capacityBytes: number;
  /** Largest encoded message (capacityBytes - 8). */
  readonly maxMessageBytes: number;
  /** The schema's or codec's fingerprint, as stored in the ring header. */
  readonly fingerprint: number;
  readonly producers: Side;
  readonly consumers: Side;
  readonly #ring: RingBuffer;
  readonly #records: RecordCodec | undefined;
  readonly #codec: ResolvedCodec<T> | undefined;
  readonly #recordBytes: number;
  #scratch: Uint8Array = new Uint8Array(0);
  // Views over the whole mapping, made once from the first claimed/peeked view.
  #mapBuffer: ArrayBufferLike | undefined;
  #mapView: DataView | undefined;
  #mapBytes: Uint8Array | undefined;

  private constructor(ring: RingBuffer, records: RecordCodec | undefined, codec: ResolvedCodec<T> | undefined) {
    this.#ring = ring;
    this.#records = records;
    this.#codec = codec;
    this.name = ring.name;
    this.kind = records ? 'records' : (codec as ResolvedCodec<T>).kind;
    this.schema = records;
    this.#recordBytes = records ? records.byteLength : -1;
    this.recordByteLength = records?.byteLength;
    this.capacity = records ? recordsIn(ring.capacityBytes, records.byteLength) : undefined;
    this.capacityBytes = ring.capacityBytes;
    this.maxMessageBytes = ring.maxMessageBytes;
    this.fingerprint = ring.fingerprint;
    this.producers = ring.producers;
    this.consumers = ring.consumers;
  }

  /**
   * Creates a queue of fixed-size records; `capacity` counts records. The
   * record type is inferred from the schema.
   * @throws `EEXIST` if the name exists; TypeError/RangeError for a bad schema or options.
   * @example
   * const q = TypedQueue.create('/ticks', { schema: { ts: 'f64', qty: 'u32' }, capacity: 1024 });
   * q.tryPush({ ts: Date.now(), qty: 5 });
   */
  static create<const S extends Schema>(name: string, options: TypedQueueRecordOptions<S>): TypedQueue<RecordOf<S>>;
  /**
   * Creates a queue of byte messages passed through as they are.
   * @throws `EEXIST`; TypeError/RangeError for bad options.
   */
  static create(name: string, options: TypedQueueCodecOptions<Uint8Array> & { codec: 'raw' }): TypedQueue<Uint8Array>;
  /**
   * Creates a queue of values encoded by `codec` ('json', 'v8', 'msgpack' or `{ encode, decode }`).
   * @throws `EEXIST`; TypeError/RangeError for bad options.
   */
  static create<T = unknown>(name: string, options: TypedQueueCodecOptions<T>): TypedQueue<T>;
  static create(name: string, options: TypedQueueCreateOptions<unknown>): TypedQueue<unknown> {
    const opts = validateOptions(options) as Partial<TypedQueueRecordOptions<Schema> & TypedQueueCodecOptions<unknown>>;
    const ringOptions = {
      capacityBytes: 0,
      mode: opts.mode,
      producers: opts.producers,
      consumers: opts.consumers,
      spinUs: opts.spinUs,
    };
    if (opts.schema !== undefined) {
      if (opts.codec !== undefined) throw typeError('options', 'either a schema or a codec, not both', options);
      const records = compile(opts.schema, 'options.schema');
      const frame = frameBytes(records.byteLength);
      const maxRecords = Math.floor((MAX_CAPACITY - frame + FRAME_ALIGN) / frame);
      const capacity = validateInteger(opts.capacity, 'options.capacity', 1, maxRecords);
      ringOptions.capacityBytes = recordCapacityBytes(records.byteLength, capacity);
      const ring = RingBuffer.createWithFingerprint(name, ringOptions, records.fingerprint);
      return new TypedQueue<unknown>(ring, records, undefined);
    }
    if (opts.codec === undefined)
      throw typeError('options.schema', 'a schema object (or give options.codec)', undefined);
    const codec = resolveCodec<unknown>(opts.codec);
    ringOptions.capacityBytes = opts.capacityBytes as number;
    const ring = RingBuffer.createWithFingerprint(name, ringOptions, codec.fingerprint);
    return new TypedQueue<unknown>(ring, undefined, codec);
  }

  /**
   * Opens an existing queue with the schema or codec it was created with.
   * @throws `ENOENT`; `ERR_SHMKIT_RING_FORMAT`; `ERR_SHMKIT_SCHEMA_MISMATCH` if
   * it was created with another schema or codec (or as a plain RingBuffer).
   */
  static open<const S extends Schema>(name: string, options: TypedQueueRecordOpenOptions<S>): TypedQueue<RecordOf<S>>;
  static open(name: string, options: TypedQueueCodecOpenOptions<Uint8Array> & { codec: 'raw' }): TypedQueue<Uint8Array>;
  static open<T = unknown>(name: string, options: TypedQueueCodecOpenOptions<T>): TypedQueue<T>;
  static open(
    name: string,
    options: TypedQueueRecordOpenOptions<Schema> | TypedQueueCodecOpenOptions<unknown>,
  ): TypedQueue<unknown> {
    const opts = validateOptions(options) as Partial<
      TypedQueueRecordOpenOptions<Schema> & TypedQueueCodecOpenOptions<unknown>
    >;
    let records: RecordCodec | undefined;
    let codec: ResolvedCodec<unknown> | undefined;
    if (opts.schema !== undefined) {
      if (opts.codec !== undefined) throw typeError('options', 'either a schema or a codec, not both', options);
      records = compile(opts.schema, 'options.schema');
    } else if (opts.codec !== undefined) {
      codec = resolveCodec<unknown>(opts.codec);
    } else {
      throw typeError('options.schema', 'a schema object (or give options.codec)', undefined);
    }
    const ring = RingBuffer.open(name, { spinUs: opts.spinUs });
    try {
      const expected = records ? records.fingerprint : (codec as ResolvedCodec<unknown>).fingerprint;
      if (ring.fingerprint !== expected) {
        const what = records ? describeSchema(records) : `codec '${(codec as ResolvedCodec<unknown>).kind}'`;
        throw mismatchError(name, what, expected, ring.fingerprint);
      }
      if (records && records.byteLength > ring.maxMessageBytes) {
        throw codedError(
          'ERR_SHMKIT_SCHEMA_MISMATCH',
          `TypedQueue '${name}': its ring takes messages of at most ${ring.maxMessageBytes} bytes, ` +
            `smaller than one ${records.byteLength}-byte record`,
        );
      }
    } catch (error) {
      ring.close();
      throw error;
    }
    return new TypedQueue<unknown>(ring, records, codec);
  }

  /** Opens the queue (checking its schema or codec), or creates it with `options` if it does not exist. */
  static openOrCreate<const S extends Schema>(
    name: string,
    options: TypedQueueRecordOptions<S>,
  ): TypedQueue<RecordOf<S>>;
  static openOrCreate(
    name: string,
    options: TypedQueueCodecOptions<Uint8Array> & { codec: 'raw' },
  ): TypedQueue<Uint8Array>;
  static openOrCreate<T = unknown>(name: string, options: TypedQueueCodecOptions<T>): TypedQueue<T>;
  static openOrCreate(name: string, options: TypedQueueCreateOptions<unknown>): TypedQueue<unknown> {
    const opts = validateOptions(options) as TypedQueueCreateOptions<unknown>;
    const openOptions = { ...opts } as TypedQueueRecordOpenOptions<Schema>;
    const open = () => TypedQueue.open(name, openOptions);
    try {
      return open();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    try {
      return TypedQueue.create(name, opts as TypedQueueRecordOptions<Schema>);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return open();
    }
  }

  /** Removes the queue's name (shm_unlink(3)). */
  static unlink(name: string): void {
    RingBuffer.unlink(name);
  }

  // ---------------------------------------------------------------- producer

  /**
   * Pushes `value` if there is room now; false when full (never waits). A
   * record is validated as it is written into the ring (on a full queue
   * nothing is checked).
   * @throws TypeError/RangeError naming the bad field (`record.qty`) or value.
   */
  tryPush(value: T): boolean {
    this.#check();
    if (this.#records) {
      const view = this.#ring.claim(this.#recordBytes);
      if (view === undefined) return false;
      this.#commitRecord(view, value);
      return true;
    }
    return this.#ring.tryPush(this.#encode(value));
  }

  /**
   * Pushes as many of `values` as fit now, in order, published at once; returns
   * how many. Every value is encoded (and so validated) first.
   */
  tryPushMany(values: readonly T[]): number {
    this.#check();
    return this.#ring.tryPushMany(this.#encodeAll(values, true));
  }

  /**
   * Pushes `value`, blocking this thread while the queue is full.
   * @throws `ETIMEDOUT` after `timeoutMs`; TypeError/RangeError for a bad value.
   */
  pushSync(value: T, options?: WaitSyncOptions): void {
    this.#check();
    if (this.#records) {
      this.#commitRecord(this.#ring.claimSync(this.#recordBytes, options), value);
      return;
    }
    this.#ring.pushSync(this.#encode(value), options);
  }

  /**
   * Pushes `value`, waiting without blocking the event loop while the queue is full.
   * @throws (rejects) `ETIMEDOUT`, an `AbortError`, `ERR_SHMKIT_CLOSED`; TypeError/RangeError for a bad value.
   */
  async push(value: T, options?: WaitOptions): Promise<void> {
    this.#check();
    parseWaitOptions(options); // checked before the fast path, as every wait does
    if (this.#records) {
      if (this.tryPush(value)) return;
      // Full: the ring has no public wait-for-space, so wait inside its push() with a copy.
      await this.#ring.push((this.#records as RecordCodec).encode(value as never), options);
      return;
    }
    await this.#ring.push(this.#encode(value), options);
  }

  /** Pushes every value in order, waiting for space as needed. Every value is validated first. */
  async pushMany(values: readonly T[], options?: WaitOptions): Promise<void> {
    this.#check();
    await this.#ring.pushMany(this.#encodeAll(values, false), options);
  }

  /**
   * A new record with every field zero (a target for popInto() to reuse).
   * Record queues only.
   */
  createRecord(): T {
    this.#checkTarget({});
    return (this.#records as RecordCodec).create() as T;
  }

  // ---------------------------------------------------------------- consumer

  /**
   * Pops the next value, or undefined if the queue is empty (never waits). On
   * a codec queue that carries `undefined` values (v8, custom), use pop()/popSync().
   */
  tryPop(): T | undefined {
    this.#check();
    const value = this.#tryPopValue(undefined);
    return value === EMPTY ? undefined : value;
  }

  /**
   * Pops the next record into `target` (its fields are overwritten); false if
   * the queue is empty. Record queues only. Allocates nothing per record for
   * numeric, bigint and bool fields (see RecordCodec.decodeInto).
   */
  tryPopInto(target: T): boolean {
    this.#check();
    this.#checkTarget(target);
    return this.#tryPopValue(target) !== EMPTY;
  }

  /**
   * Pops the next value, blocking this thread while the queue is empty.
   * @throws `ETIMEDOUT` after `timeoutMs`.
   */
  popSync(options?: WaitSyncOptions): T {
    this.#check();
    if (this.#records || this.#codec?.decodesFromView) {
      const view = this.#ring.peekSync(options);
      return this.#decodeView(view, undefined);
    }
    return this.#decodeCopy(this.#ring.popSync(options), undefined);
  }

  /** Pops the next record into `target`, blocking this thread while empty. Record queues only. @throws `ETIMEDOUT` */
  popIntoSync(target: T, options?: WaitSyncOptions): T {
    this.#check();
    this.#checkTarget(target);
    return this.#decodeView(this.#ring.peekSync(options), target);
  }

  /**
   * Pops the next value, waiting without blocking the event loop.
   * @throws (rejects) `ETIMEDOUT`, an `AbortError`, `ERR_SHMKIT_CLOSED`.
   */
  async pop(options?: WaitOptions): Promise<T> {
    this.#check();
    parseWaitOptions(options); // checked before the fast path, as every wait does
    const value = this.#tryPopValue(undefined);
    if (value !== EMPTY) return value;
    return this.#decodeCopy(await this.#ring.pop(options), undefined);
  }

  /** Pops the next record into `target`, waiting without blocking the event loop. Record queues only. */
  async popInto(target: T, options?: WaitOptions): Promise<T> {
    this.#check();
    this.#checkTarget(target);
    parseWaitOptions(options); // checked before the fast path, as every wait does
    if (this.#tryPopValue(target) !== EMPTY) return target;
    return this.#decodeCopy(await this.#ring.pop(options), target);
  }

  /**
   * `for await (const value of queue)`: every value as it arrives, draining
   * all that are available per wake-up; ends when this handle is closed. The
   * same as {@link iterate} without options.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.iterate();
  }

  /**
   * Like `for await (const value of queue)`, with the options of every async
   * wait, so that a consumer loop can be stopped while it sleeps:
   *
   * ```ts
   * for await (const value of queue.iterate({ signal })) handle(value);
   * ```
   *
   * - `signal`: when it aborts, the loop throws an `AbortError` (`code:
   *   'ABORT_ERR'`, `cause`: the signal's reason) at once, even while it is
   *   parked waiting for a value — as `events.on(emitter, name, { signal })`
   *   and every other shmkit wait do. Once the signal has aborted no further
   *   message is taken: one pushed after the abort stays in the queue for the
   *   next reader. To end a loop without an error, `break` out of it, or
   *   close() the handle.
   * - `timeoutMs`: the longest wait for the next value, in milliseconds,
   *   counted afresh after each one; then the loop throws `ETIMEDOUT`.
   * - `ref`: whether a wait for the next value keeps the process alive
   *   (default true).
   *
   * The loop ends quietly when this handle is closed. A message that cannot
   * be decoded is thrown (`ERR_SHMKIT_DECODE`, `ERR_SHMKIT_RECORD_SIZE`) and
   * ends the loop; the messages behind it stay for the next pop or loop.
   * Options are checked here, before the first value.
   * @throws TypeError/RangeError naming a bad option.
   */
  iterate(options?: WaitOptions): AsyncIterableIterator<T> {
    return this.#values(parseWaitOptions(options));
  }

  async *#values(options: WaitOptions): AsyncGenerator<T, void, undefined> {
    const { signal } = options;
    for (;;) {
      if (this.closed) return;
      throwIfAborted(signal);
      let value = this.#tryPopValue(undefined);
      while (value !== EMPTY) {
        yield value;
        if (this.closed) return;
        throwIfAborted(signal); // before taking another, which then stays in the queue
        value = this.#tryPopValue(undefined);
      }
      let bytes: Uint8Array;
      try {
        bytes = await this.#ring.pop(options); // rejects with an AbortError, taking nothing, if the signal aborts
      } catch (error) {
        if (error instanceof ClosedError) return;
        throw error;
      }
      yield this.#decodeCopy(bytes, undefined);
    }
  }

  // ---------------------------------------------------------------- misc

  /** The ring's shared counters (a record is one message). */
  stats(): RingStats {
    this.#check();
    return this.#ring.stats();
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#ring.closed;
  }

  /** Unmaps this handle; safe twice. Pending waits reject with `ERR_SHMKIT_CLOSED`. The queue stays (see unlink()). */
  close(): void {
    this.#ring.close();
  }

  /** Removes the queue's name (shm_unlink(3)). */
  unlink(): void {
    RingBuffer.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------- internals

  #check(): void {
    if (this.#ring.closed) throw useAfterClose(`TypedQueue '${this.name}'`);
  }

  #checkTarget(target: unknown): void {
    if (!this.#records) {
      throw codedError(
        'ERR_SHMKIT_NOT_RECORDS',
        `popInto() needs a record queue; '${this.name}' is a ${this.kind} codec queue`,
      );
    }
    if (target === null || typeof target !== 'object') throw typeError('target', 'an object', target);
  }

  #encode(value: T): Uint8Array {
    return (this.#codec as ResolvedCodec<T>).encode(value, this.name);
  }

  /** Encodes `values[i]` of a batch: an error names the index. */
  #encodeAt(value: T, i: number): Uint8Array {
    try {
      return this.#encode(value);
    } catch (error) {
      if (error instanceof Error) error.message = `values[${i}]: ${error.message}`;
      throw error;
    }
  }

  /** Encodes a record into a claimed view and publishes it; aborts the claim if a field is bad. */
  #commitRecord(view: Uint8Array, value: T): void {
    try {
      if (view.buffer !== this.#mapBuffer) this.#mapViews(view);
      (this.#records as RecordCodec).writeAt(
        this.#mapView as DataView,
        this.#mapBytes as Uint8Array,
        view.byteOffset,
        value as never,
      );
    } catch (error) {
      this.#ring.abort();
      throw error;
    }
    this.#ring.commit();
  }

  /** Encodes every value (so all are validated before any is pushed). */
  #encodeAll(values: readonly T[], scratch: boolean): Uint8Array[] {
    if (!Array.isArray(values)) throw typeError('values', 'an array', values);
    const records = this.#records;
    if (!records) return values.map((value, i) => this.#encodeAt(value, i));
    const size = this.#recordBytes;
    const total = values.length * size;
    let buffer: Uint8Array;
    if (scratch) {
      if (this.#scratch.length < total) this.#scratch = new Uint8Array(Math.max(total, this.#scratch.length * 2));
      buffer = this.#scratch;
    } else {
      buffer = new Uint8Array(total);
    }
    const list = new Array<Uint8Array>(values.length);
    for (let i = 0; i < values.length; i++) {
      try {
        records.encodeInto(values[i] as never, buffer, i * size);
      } catch (error) {
        if (error instanceof Error) error.message = `values[${i}]: ${error.message}`;
        throw error;
      }
      list[i] = buffer.subarray(i * size, (i + 1) * size);
    }
    return list;
  }

  /** One pop without waiting: EMPTY, or the value (decoded into `target` if given). */
  #tryPopValue(target: T | undefined): T | typeof EMPTY {
    if (this.#records || this.#codec?.decodesFromView) {
      const view = this.#ring.peek();
      if (view === undefined) return EMPTY;
      return this.#decodeView(view, target);
    }
    const bytes = this.#ring.tryPop();
    if (bytes === undefined) return EMPTY;
    return this.#decodeCopy(bytes, target);
  }

  /** Decodes a peeked view, then releases it (also when decoding fails: a bad message is dropped). */
  #decodeView(view: Uint8Array, target: T | undefined): T {
    try {
      const records = this.#records;
      if (!records) return (this.#codec as ResolvedCodec<T>).decode(view, this.name);
      if (view.length !== this.#recordBytes) throw this.#sizeError(view.length);
      if (view.buffer !== this.#mapBuffer) this.#mapViews(view);
      const into = target ?? (records.create() as T);
      records.readAt(this.#mapView as DataView, this.#mapBytes as Uint8Array, view.byteOffset, into as never);
      return into;
    } finally {
      this.#ring.release();
    }
  }

  #mapViews(view: Uint8Array): void {
    const buffer = view.buffer;
    this.#mapBuffer = buffer;
    this.#mapView = new DataView(buffer);
    this.#mapBytes = new Uint8Array(buffer);
  }

  #decodeCopy(bytes: Uint8Array, target: T | undefined): T {
    const records = this.#records;
    if (!records) return (this.#codec as ResolvedCodec<T>).decode(bytes, this.name);
    if (bytes.length !== this.#recordBytes) throw this.#sizeError(bytes.length);
    if (target !== undefined) return records.decodeInto(target as never, bytes, 0) as T;
    return records.decode(bytes, 0) as T;
  }

  #sizeError(length: number): Error {
    return codedError(
      'ERR_SHMKIT_RECORD_SIZE',
      `TypedQueue '${this.name}': a ${length}-byte message is not a record of this schema ` +
        `(${this.#recordBytes} bytes); it was dropped`,
    );
  }
}
