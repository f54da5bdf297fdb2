/**
 * A subscriber's side of a topic's log (./format.ts): its cursor, the next
 * record, and how it finds out it was lapped.
 *
 * Reading is a seqlock: copy the record, then re-load the horizon (the
 * oldest byte the publisher has not overwritten); if the horizon has passed
 * the record, the copy may be torn and is dropped, and the reader moves to
 * an intact record. Sequence numbers in the records tell exactly how many
 * messages it skipped. Everything read from shared memory is bounds-checked:
 * a bad value becomes `ERR_SHMKIT_TOPIC_CORRUPT`, never an out-of-bounds read.
 */
import { corruptTopic } from './errors.js';
import { FRAME_ALIGN, FRAME_HEADER_BYTES, frameBytes, OFFSET, WRAP_MARKER, word } from './format.js';
import type { TopicHeader } from './header.js';

const TAIL = word(OFFSET.tail);
const HORIZON = word(OFFSET.horizon);
/** Steps one read may take (wrap markers, resyncs) before the log counts as corrupt. */
const MAX_STEPS = 4096;

/** A record found: its payload, and how many messages were skipped before it (0: none). */
export interface ReadResult {
  bytes: Uint8Array;
  skipped: number;
  /** Its sequence number. */
  seq: number;
  /** Byte positions of the record and of the one after it. */
  at: number;
  next: number;
}

export class LogReader {
  /** Byte position (mod 2^32) of the next record. */
  cursor: number;
  /** Sequence number of the next message, undefined before the first one ('now'). */
  expected: number | undefined;
  readonly #name: string;
  readonly #u32: Uint32Array;
  readonly #bytes: Uint8Array;
  readonly #data: number; // byte offset of the log in the mapping
  readonly #capacity: number;
  readonly #mask: number;
  readonly #maxMessageBytes: number;

  /** `gap`: the record at `cursor` may come after `expected`; its first read counts the ones between as skipped. */
  constructor(header: TopicHeader, cursor: number, expected: number | undefined, gap = false) {
    this.#name = header.name;
    this.#u32 = new Uint32Array(header.shm.buffer);
    this.#bytes = new Uint8Array(header.shm.buffer);
    this.#data = header.layout.dataOffset;
    this.#capacity = header.limits.capacity;
    this.#mask = this.#capacity - 1;
    this.#maxMessageBytes = this.#capacity - FRAME_HEADER_BYTES;
    this.cursor = cursor;
    this.expected = expected;
    this.#resynced = gap;
  }

  /** Whether the tail has moved past the cursor (a record, or a wrap marker, to read). */
  hasRecord(): boolean {
    return Atomics.load(this.#u32, TAIL) !== this.cursor;
  }

  /** The published tail. */
  tail(): number {
    return Atomics.load(this.#u32, TAIL);
  }

  /**
   * Copies the next intact record and moves the cursor past it, or returns
   * undefined when there is none now. `skipped` counts the messages the
   * publisher overwrote before this reader got to them.
   * @throws `ERR_SHMKIT_TOPIC_CORRUPT` for a log that makes no sense.
   */
  read(): ReadResult | undefined {
    const found = this.#find(false);
    if (found) this.#advance(found);
    return found;
  }

  /**
   * Like read() without copying and without moving the cursor: `bytes` is a
   * view into the log. Then release(found), which says whether the view
   * stayed intact while it was used.
   */
  peek(): ReadResult | undefined {
    return this.#find(true);
  }

  /**
   * Ends a peek: if the publisher did not overwrite the record meanwhile,
   * moves the cursor past it and returns true; otherwise returns false (what
   * the view showed may be torn) and the next read finds an intact record.
   */
  release(found: ReadResult): boolean {
    if (this.#overwritten(found.at)) return false;
    this.#advance(found);
    return true;
  }

  #advance(found: ReadResult): void {
    this.expected = (found.seq + 1) >>> 0;
    this.cursor = found.next;
    this.#resynced = false;
  }

  /** Set by a resync until the next record is taken: only then may a record's seq jump ahead. */
  #resynced = false;

  /** The next intact record from the cursor (stepping over wrap markers, resyncing when lapped). */
  #find(view: boolean): ReadResult | undefined {
    for (let step = 0; step < MAX_STEPS; step++) {
      const tail = Atomics.load(this.#u32, TAIL);
      const at = this.cursor;
      if (at === tail) return undefined;
      const available = (tail - at) >>> 0;
      if (available > this.#capacity || ((at | tail) & (FRAME_ALIGN - 1)) !== 0) {
        this.#resync();
        continue;
      }
      const offset = at & this.#mask;
      const toEnd = this.#capacity - offset;
      const head = (this.#data + offset) >> 2;
      const length = this.#u32[head] as number;
      if (length === WRAP_MARKER) {
        if (this.#overwritten(at)) this.#resync();
        else if (toEnd > available) throw this.#corrupt(`a wrap marker at ${offset} past the tail`);
        else this.cursor = (at + toEnd) >>> 0;
        continue;
      }
      const seq = this.#u32[head + 1] as number;
      const fits = length <= this.#maxMessageBytes && frameBytes(length) <= Math.min(toEnd, available);
      const start = this.#data + offset + FRAME_HEADER_BYTES;
      let bytes: Uint8Array | undefined;
      if (fits) bytes = view ? this.#bytes.subarray(start, start + length) : this.#bytes.slice(start, start + length);
      // The seqlock's check: were these bytes overwritten while we copied them?
      if (this.#overwritten(at)) {
        this.#resync();
        continue;
      }
      if (!bytes) throw this.#corrupt(`the record at ${offset} claims ${length} bytes`);
      // Read where the last record ended, the next one's seq is the one expected. Positions are
      // 32-bit: a reader lapped by 4 GiB or more finds its old cursor intact-looking again, in
      // the middle of other records. A jump there means that: resync.
      if (!this.#resynced && this.expected !== undefined && seq !== this.expected) {
        this.#resync();
        continue;
      }
      return { bytes, skipped: this.#skipped(seq, offset), seq, at, next: (at + frameBytes(length)) >>> 0 };
    }
    throw this.#corrupt(`no intact record after ${MAX_STEPS} steps`);
  }

  /** Messages between the one expected and the one read (its sequence number `seq`). */
  #skipped(seq: number, offset: number): number {
    const expected = this.expected;
    if (expected === undefined || seq === expected) return 0;
    const ahead = (seq - expected) | 0;
    // A record older than the one expected can only come from a peer writing outside the format.
    if (ahead < 0) throw this.#corrupt(`the record at ${offset} has sequence number ${seq}, expected ${expected}`);
    return ahead;
  }

  /** Whether the publisher's horizon has passed byte position `at`: what was there may be gone. */
  #overwritten(at: number): boolean {
    return ((at - Atomics.load(this.#u32, HORIZON)) | 0) < 0;
  }

  /**
   * Lapped: moves the cursor to an intact record. It starts at the horizon
   * (the oldest record) and steps forward over at most a quarter of the log
   * (never to the tail), so that the next read is not at once overwritten
   * again by a fast publisher, and few intact messages are passed over.
   */
  #resync(): void {
    for (let attempt = 0; attempt < MAX_STEPS; attempt++) {
      const horizon = Atomics.load(this.#u32, HORIZON);
      if ((horizon & (FRAME_ALIGN - 1)) !== 0) throw this.#corrupt(`horizon ${horizon} is not 8-aligned`);
      const at = this.#walk(horizon);
      if (at !== undefined) {
        this.cursor = at;
        this.#resynced = true;
        return;
      }
    }
    throw this.#corrupt('the horizon never settles');
  }

  /**
   * Steps from `from` over records until at most three quarters of the log
   * are left to read, stopping before the newest record; undefined if the
   * publisher overwrote the walk meanwhile (retry).
   */
  #walk(from: number): number | undefined {
    let at = from;
    for (let step = 0; step < MAX_STEPS; step++) {
      const tail = Atomics.load(this.#u32, TAIL);
      const left = (tail - at) >>> 0;
      if (left > this.#capacity) return undefined;
      if (left <= this.#capacity - this.#capacity / 4) return at;
      const offset = at & this.#mask;
      const length = this.#u32[(this.#data + offset) >> 2] as number;
      const next = length === WRAP_MARKER ? this.#capacity - offset : frameBytes(length);
      if (this.#overwritten(at)) return undefined;
      if (length !== WRAP_MARKER && (length > this.#maxMessageBytes || next > this.#capacity - offset))
        throw this.#corrupt(`the record at ${offset} claims ${length} bytes`);
      if (next >= left) return at; // the newest record: read it
      at = (at + next) >>> 0;
    }
    return at;
  }

  #corrupt(detail: string): Error {
    return corruptTopic(this.#name, detail);
  }
}
