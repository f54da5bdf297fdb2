/**
 * Where a ring's frames go: the index and frame arithmetic over its header
 * words and data area (layout: ./format.ts, docs/ring-format.md).
 *
 * Pure: no waits, no system calls, no locks, so it is tested on a plain
 * ArrayBuffer (test/ring-indices.test.ts). Every index and length read from
 * shared memory is bounds-checked before use: a peer may be buggy or
 * hostile, and a bad value must become `ERR_SHMKIT_RING_CORRUPT`, never an
 * out-of-bounds read.
 *
 * Publishing an index is the first half of the wake protocol
 * (docs/ring-format.md): store the index, then load the other side's wait
 * word; only if its "may sleep" bit is up is the ring's wake callback
 * called (./park.ts). The common case, nobody sleeps, thus costs one load
 * and no call.
 */
import { codedError } from '../../core/errors.js';
import {
  FRAME_ALIGN,
  FRAME_HEADER_BYTES,
  f64,
  frameBytes,
  HEADER_BYTES,
  MIN_CAPACITY,
  nextPowerOfTwo,
  OFFSET,
  WRAP_MARKER,
  word,
} from './format.js';

// Module-local constants: an exported const compiles to a property load of
// `exports` at each use, and these are on the hot path.
const TAIL_WORD = word(OFFSET.tail);
const HEAD_WORD = word(OFFSET.head);
const NO_FRAME = -1;
// Indices (Float64) of the stats each side keeps on its own cache line.
const PUSHED_MESSAGES = f64(OFFSET.pushedMessages);
const PUSHED_BYTES = f64(OFFSET.pushedBytes);
const HIGH_WATER = f64(OFFSET.highWaterBytes);
const POPPED_MESSAGES = f64(OFFSET.poppedMessages);
const POPPED_BYTES = f64(OFFSET.poppedBytes);

/** Indices (Int32) of the tail and head words. */
export const TAIL = TAIL_WORD;
export const HEAD = HEAD_WORD;
/** What reserve() and next() return when there is no room, or no message. */
export const NONE = NO_FRAME;

/** Bytes in use between two index counters (both mod 2^32). */
export function usedBytes(tail: number, head: number): number {
  return (tail - head) >>> 0;
}

/** Bytes in use in the ring now, as its header says. */
export function depthBytes(words: Int32Array): number {
  return usedBytes(Atomics.load(words, TAIL_WORD), Atomics.load(words, HEAD_WORD));
}

/** Index in the mapping of the first payload byte of the frame at data-area `offset`. */
export function payloadStart(offset: number): number {
  return HEADER_BYTES + offset + FRAME_HEADER_BYTES;
}

/** The smallest `capacityBytes` of a ring that takes a message of `length` bytes. */
export function capacityFor(length: number): number {
  return Math.max(MIN_CAPACITY, nextPowerOfTwo(frameBytes(length)));
}

/** A ring whose indices or frames make no sense: a process wrote to it outside the format. */
export function corruptRing(name: string, detail: string): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_RING_CORRUPT',
    `ring '${name}' is corrupt: ${detail}. A process wrote to it outside the ring format; ` +
      'its messages cannot be trusted: unlink it and create it again',
  );
}

/** How an index tells the other side it moved. */
export interface Wakeup {
  /** Index (Int32) of the other side's wait word: bit 0 "may sleep". */
  word: number;
  /** Wakes the other side's sleepers; called only when the bit is up. */
  wake: () => void;
}

/** The views of one mapping an index works on. */
class RingWords {
  protected readonly words: Int32Array;
  protected readonly u32: Uint32Array;
  protected readonly stats: Float64Array;
  protected readonly capacity: number;
  protected readonly mask: number;
  protected readonly maxMessageBytes: number;
  protected readonly wakeWord: number;
  protected readonly wake: () => void;

  constructor(
    buffer: ArrayBufferLike,
    capacity: number,
    protected readonly name: string,
    /** Whether other handles move this side's index too (a multi ring). */
    protected readonly shared: boolean,
    wakeup: Wakeup,
  ) {
    this.wakeWord = wakeup.word;
    this.wake = wakeup.wake;
    this.words = new Int32Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.stats = new Float64Array(buffer, 0, HEADER_BYTES / 8);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxMessageBytes = capacity - FRAME_HEADER_BYTES;
  }

  /** Head and tail more than a lap apart. */
  protected overfull(used: number): Error {
    return corruptRing(
      this.name,
      `head and tail say ${used} bytes are in use, more than its ${this.capacity}-byte data area`,
    );
  }
}

/**
 * The producers' side: the tail (bytes ever pushed, mod 2^32) and where the
 * next frame goes. Between begin() and commit() the tail is owned: by the
 * only producer, or by the holder of the producer lock.
 */
export class ProducerIndex extends RingWords {
  /** The next tail: frames written up to here, published by commit(). */
  tail: number;
  /** A lower bound of head: the last one seen (reloaded only when needed). */
  headSeen: number;

  constructor(buffer: ArrayBufferLike, capacity: number, name: string, shared: boolean, wakeup: Wakeup) {
    super(buffer, capacity, name, shared, wakeup);
    this.tail = Atomics.load(this.words, TAIL_WORD);
    this.headSeen = Atomics.load(this.words, HEAD_WORD);
  }

  /**
   * Takes up the published tail. Reloaded even on a single-producer ring:
   * this handle may have been idle while another handle moved it, and then
   * the cached head may be a lap (or 2^32 bytes) old and alias a
   * valid-looking value: reload it too.
   * False if the tail is not 8-aligned: a peer corrupted it (see misaligned()).
   */
  begin(): boolean {
    const tail = Atomics.load(this.words, TAIL_WORD);
    if (tail !== this.tail) this.headSeen = Atomics.load(this.words, HEAD_WORD);
    this.tail = tail;
    return (tail & (FRAME_ALIGN - 1)) === 0;
  }

  /** The error of a tail begin() found misaligned (`ERR_SHMKIT_RING_CORRUPT`). */
  misaligned(): Error {
    return corruptRing(this.name, `tail ${this.tail >>> 0} is not 8-aligned`);
  }

  /**
   * Finds room for a frame of `length` payload bytes at the tail, first
   * writing (and publishing) a wrap marker if the frame would not fit before
   * the end of the data area. Returns the frame's offset in the data area,
   * or NONE when there is no room now.
   */
  reserve(length: number): number {
    const need = frameBytes(length);
    let offset = this.tail & this.mask;
    const toEnd = this.capacity - offset;
    if (need > toEnd) {
      if (!this.#hasRoom(toEnd)) return NO_FRAME;
      this.u32[(HEADER_BYTES + offset) >> 2] = WRAP_MARKER;
      this.tail = (this.tail + toEnd) | 0;
      // Published at once, so a consumer frees the space we now wait for.
      this.#publish();
      offset = 0;
    }
    return this.#hasRoom(need) ? offset : NO_FRAME;
  }

  /** Writes the header of the frame at `offset` (its payload is the caller's) and moves the tail past it, unpublished. */
  write(offset: number, length: number): void {
    const at = (HEADER_BYTES + offset) >> 2;
    this.u32[at + 1] = 0;
    this.u32[at] = length;
    this.tail = (this.tail + frameBytes(length)) | 0;
    const stats = this.stats;
    stats[PUSHED_MESSAGES] = (stats[PUSHED_MESSAGES] as number) + 1;
    stats[PUSHED_BYTES] = (stats[PUSHED_BYTES] as number) + length;
  }

  /** Publishes every frame written so far and records the high-water mark. */
  commit(): void {
    this.#publish();
    const used = usedBytes(this.tail, this.headSeen);
    if (used > (this.stats[HIGH_WATER] as number)) this.stats[HIGH_WATER] = used;
  }

  /** What a waiting producer waits for: room for a frame of `bytes` (frame header included). */
  hasSpace(bytes: number): boolean {
    const tail = this.shared ? Atomics.load(this.words, TAIL_WORD) : this.tail;
    return usedBytes(tail, Atomics.load(this.words, HEAD_WORD)) + bytes <= this.capacity;
  }

  #hasRoom(bytes: number): boolean {
    if (usedBytes(this.tail, this.headSeen) + bytes <= this.capacity) return true;
    this.headSeen = Atomics.load(this.words, HEAD_WORD);
    const used = usedBytes(this.tail, this.headSeen);
    if (used > this.capacity) throw this.overfull(used);
    return used + bytes <= this.capacity;
  }

  #publish(): void {
    Atomics.store(this.words, TAIL_WORD, this.tail);
    if ((Atomics.load(this.words, this.wakeWord) & 1) !== 0) this.wake();
  }
}

/**
 * The consumers' side: the head (bytes ever consumed, mod 2^32) and the next
 * frame to read, checked against the published tail. Between begin() and
 * advance() the head is owned: by the only consumer, or by the holder of
 * the consumer lock.
 */
export class ConsumerIndex extends RingWords {
  /** The next head: frames consumed up to here. */
  head: number;
  /** The last published tail seen. */
  tailSeen: number;
  /**
   * Payload bytes of the frame next() returned: read from shared memory
   * once, checked, and never read again (a peer could change it after the check).
   */
  frameLength = 0;

  constructor(buffer: ArrayBufferLike, capacity: number, name: string, shared: boolean, wakeup: Wakeup) {
    super(buffer, capacity, name, shared, wakeup);
    this.head = Atomics.load(this.words, HEAD_WORD);
    this.tailSeen = Atomics.load(this.words, TAIL_WORD);
  }

  /**
   * Takes up the published head. The cached tail stays valid while no other
   * handle moved the head (it is only stale then, and reloaded when head
   * reaches it): this keeps the producer's cache line out of most pops.
   */
  begin(): void {
    const head = Atomics.load(this.words, HEAD_WORD);
    if (head !== this.head) this.tailSeen = Atomics.load(this.words, TAIL_WORD);
    this.head = head;
  }

  /**
   * Finds the next frame at the head, skipping (and freeing) wrap markers,
   * and checks it against the published tail. Returns its offset in the
   * data area, with its length in `frameLength`, or NONE if the ring is empty.
   * @throws `ERR_SHMKIT_RING_CORRUPT` for indices or a frame that make no sense.
   */
  next(): number {
    for (;;) {
      if (this.head === this.tailSeen) {
        this.tailSeen = Atomics.load(this.words, TAIL_WORD);
        if (this.head === this.tailSeen) return NO_FRAME;
      }
      if (((this.head | this.tailSeen) & (FRAME_ALIGN - 1)) !== 0) {
        throw corruptRing(this.name, `head ${this.head >>> 0} or tail ${this.tailSeen >>> 0} is not 8-aligned`);
      }
      const available = usedBytes(this.tailSeen, this.head);
      if (available > this.capacity) throw this.overfull(available);
      const offset = this.head & this.mask;
      const toEnd = this.capacity - offset;
      const length = this.u32[(HEADER_BYTES + offset) >> 2] as number;
      if (length === WRAP_MARKER) {
        if (toEnd > available) throw corruptRing(this.name, `wrap marker at ${offset} past the published tail`);
        // Free the skipped space now: a producer may be waiting for it.
        this.head = (this.head + toEnd) | 0;
        this.#publish();
        continue;
      }
      if (length > this.maxMessageBytes || frameBytes(length) > Math.min(toEnd, available)) {
        throw corruptRing(this.name, `frame at ${offset} claims ${length} bytes`);
      }
      this.frameLength = length;
      return offset;
    }
  }

  /** Frees the frame at the head (of `length` payload bytes) and publishes the head. */
  advance(length: number): void {
    this.head = (this.head + frameBytes(length)) | 0;
    const stats = this.stats;
    stats[POPPED_MESSAGES] = (stats[POPPED_MESSAGES] as number) + 1;
    stats[POPPED_BYTES] = (stats[POPPED_BYTES] as number) + length;
    this.#publish();
  }

  /** What a waiting consumer waits for: a message (the tail moved past the head). */
  hasMessage(): boolean {
    return Atomics.load(this.words, TAIL_WORD) !== (this.shared ? Atomics.load(this.words, HEAD_WORD) : this.head);
  }

  #publish(): void {
    Atomics.store(this.words, HEAD_WORD, this.head);
    if ((Atomics.load(this.words, this.wakeWord) & 1) !== 0) this.wake();
  }
}
