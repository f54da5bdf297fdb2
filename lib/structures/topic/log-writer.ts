/**
 * The publisher's side of a topic's log (./format.ts): where the next record
 * goes, the overwrite horizon, the history table and, under 'block' and
 * 'evict', the room the slowest subscriber leaves.
 *
 * The publisher is the only writer of the tail, the horizon, the history
 * table and the records. Before it writes over bytes it moves the horizon
 * past every record they held (a reader re-checks the horizon after copying
 * a record: ./log-reader.ts); it stores the tail last, then wakes sleeping
 * subscribers with ONE futex wake if their shared word says one may sleep.
 */
import { corruptTopic } from './errors.js';
import { FRAME_HEADER_BYTES, frameBytes, OFFSET, SLOT, SLOT_BYTES, SLOT_STATE, WRAP_MARKER, word } from './format.js';
import type { TopicHeader } from './header.js';

/** What reserve() returns when the slowest subscriber leaves no room. */
export const NO_ROOM = -1;

const TAIL = word(OFFSET.tail);
const HORIZON = word(OFFSET.horizon);
const NEXT_SEQ = word(OFFSET.nextSeq);
const TAIL_SEQ = word(OFFSET.tailSeq);

export class LogWriter {
  readonly capacity: number;
  readonly maxMessageBytes: number;
  /** Next tail (bytes, mod 2^32): records written up to here; published by commit(). */
  tail: number;
  /** Next sequence number (mod 2^32). */
  seq: number;
  /** Whether a subscriber joined since the last check (the caller syncs its process watches). */
  joined = false;
  readonly #header: TopicHeader;
  readonly #u32: Uint32Array;
  readonly #data: number; // Uint32 index of the log's first word
  readonly #mask: number;
  readonly #block: boolean;
  #horizon: number;
  /** Largest (tail - cursor) of an active subscriber at the last scan (a bound: cursors only grow). */
  #behindAtScan = 0;
  #tailAtScan: number;
  #joinsSeen: number;
  readonly #wake: () => void;

  constructor(header: TopicHeader, wake: () => void) {
    this.#header = header;
    this.#wake = wake;
    this.capacity = header.limits.capacity;
    this.maxMessageBytes = this.capacity - FRAME_HEADER_BYTES;
    this.#u32 = new Uint32Array(header.shm.buffer);
    this.#data = header.layout.dataOffset >> 2;
    this.#mask = this.capacity - 1;
    this.#block = header.limits.policy !== 'drop-oldest';
    this.tail = Atomics.load(this.#u32, TAIL);
    this.#tailAtScan = this.tail;
    this.#horizon = Atomics.load(this.#u32, HORIZON);
    this.seq = 0;
    this.#joinsSeen = header.joins;
  }

  /**
   * Finds room for a record of `length` payload bytes at the tail (writing
   * and publishing a wrap marker first if it would not fit before the end of
   * the log) and moves the horizon past what it will overwrite. Returns the
   * record's offset in the log, or NO_ROOM when a subscriber holds the
   * publisher back ('block', 'evict').
   */
  reserve(length: number): number {
    if (this.#header.joins !== this.#joinsSeen) this.#rescan();
    const need = frameBytes(length);
    let offset = this.tail & this.#mask;
    const toEnd = this.capacity - offset;
    if (need > toEnd) {
      if (!this.#hasRoom(toEnd)) return NO_ROOM;
      this.#overwrite(toEnd);
      this.#u32[this.#data + (offset >> 2)] = WRAP_MARKER;
      this.tail = (this.tail + toEnd) >>> 0;
      this.commit(); // published at once: subscribers step over it and free the room we wait for
      offset = 0;
    }
    if (!this.#hasRoom(need)) return NO_ROOM;
    this.#overwrite(need);
    return offset;
  }

  /** Index in the mapping (bytes) of the payload of the record at log offset `offset`. */
  payloadStart(offset: number): number {
    return (this.#data << 2) + offset + FRAME_HEADER_BYTES;
  }

  /** Writes the header of the record at `offset` (its payload is the caller's) and moves the tail past it, unpublished. */
  write(offset: number, length: number): void {
    const at = this.#data + (offset >> 2);
    this.#u32[at] = length;
    this.#u32[at + 1] = this.seq;
    const history = this.#header.limits.historyMessages;
    if (history > 0) this.#u32[(this.#header.layout.historyOffset >> 2) + (this.seq % history)] = this.tail;
    this.seq = (this.seq + 1) >>> 0;
    this.tail = (this.tail + frameBytes(length)) >>> 0;
    this.#header.count(OFFSET.published);
    this.#header.count(OFFSET.publishedBytes, length);
  }

  /** Publishes every record written so far (stores the tail) and wakes sleeping subscribers. */
  commit(): void {
    // nextSeq, tail, tailSeq: a joiner that reads tailSeq, tail, nextSeq and
    // finds both sequence words equal has a tail and the sequence number of
    // the record there that belong together.
    Atomics.store(this.#u32, NEXT_SEQ, this.seq);
    Atomics.store(this.#u32, TAIL, this.tail);
    Atomics.store(this.#u32, TAIL_SEQ, this.seq);
    if ((Atomics.load(this.#header.i32, word(OFFSET.dataWord)) & 1) !== 0) this.#wake();
  }

  /** Whether a record of `length` bytes fits now (what a blocked publisher waits for): rescans the slots. */
  fits(length: number): boolean {
    this.#rescan();
    const offset = this.tail & this.#mask;
    const toEnd = this.capacity - offset;
    const need = frameBytes(length);
    return need > toEnd ? this.#behind() + toEnd <= this.capacity : this.#behind() + need <= this.capacity;
  }

  /** The active slots whose subscriber holds back a record of `length` bytes (at the last scan). */
  holdingBack(length: number): number[] {
    const out: number[] = [];
    const need = Math.min(frameBytes(length), this.capacity);
    for (let slot = 0; slot < this.#header.limits.maxSubscribers; slot++) {
      const behind = this.#slotBehind(slot);
      if (behind >= 0 && behind + need > this.capacity) out.push(slot);
    }
    return out;
  }

  /** Bytes the most-behind active subscriber has left to read, from the last scan. */
  #behind(): number {
    return this.#behindAtScan + ((this.tail - this.#tailAtScan) >>> 0);
  }

  #hasRoom(bytes: number): boolean {
    if (!this.#block) return true;
    if (this.#behind() + bytes <= this.capacity) return true;
    this.#rescan();
    return this.#behind() + bytes <= this.capacity;
  }

  /** Reads every active slot's cursor: how far behind the tail the slowest one is. */
  #rescan(): void {
    const joins = this.#header.joins;
    if (joins !== this.#joinsSeen) this.joined = true;
    this.#joinsSeen = joins;
    let behind = 0;
    for (let slot = 0; slot < this.#header.limits.maxSubscribers; slot++)
      behind = Math.max(behind, this.#slotBehind(slot));
    this.#behindAtScan = behind;
    this.#tailAtScan = this.tail;
  }

  /**
   * How far behind the tail slot `slot`'s cursor is, or -1 if the slot is
   * not active or its cursor is not inside the log (a subscriber lapped
   * while it joined, or a corrupt cursor: it finds out by the horizon).
   */
  #slotBehind(slot: number): number {
    const base = (this.#header.layout.slotsOffset + slot * SLOT_BYTES) >> 2;
    if (Atomics.load(this.#header.i32, base + (SLOT.state >> 2)) !== SLOT_STATE.active) return -1;
    const behind = (this.tail - Atomics.load(this.#u32, base + (SLOT.cursor >> 2))) >>> 0;
    return behind <= this.capacity ? behind : -1;
  }

  /**
   * Moves the horizon past every record that the next `bytes` bytes at the
   * tail will overwrite, and publishes it before any of them is written.
   */
  #overwrite(bytes: number): void {
    const end = (this.tail + bytes) >>> 0;
    let horizon = this.#horizon;
    let passed = 0;
    while ((end - horizon) >>> 0 > this.capacity) {
      if (horizon === this.tail) break; // the whole log goes
      if ((this.tail - horizon) >>> 0 > this.capacity)
        throw corruptTopic(
          this.#header.name,
          `the horizon ${horizon} is not within the log behind the tail ${this.tail}`,
        );
      const offset = horizon & this.#mask;
      const length = this.#u32[this.#data + (offset >> 2)] as number;
      const toEnd = this.capacity - offset;
      if (length === WRAP_MARKER) {
        horizon = (horizon + toEnd) >>> 0;
        continue;
      }
      if (length > this.maxMessageBytes || frameBytes(length) > toEnd)
        throw corruptTopic(this.#header.name, `the record at ${offset} claims ${length} bytes`);
      horizon = (horizon + frameBytes(length)) >>> 0;
      passed++;
    }
    if (horizon === this.#horizon) return;
    this.#horizon = horizon;
    Atomics.store(this.#u32, HORIZON, horizon);
    if (passed > 0) this.#header.count(OFFSET.overwritten, passed);
  }
}
