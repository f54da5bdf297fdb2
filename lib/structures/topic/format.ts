/**
 * The binary layout of a topic (docs/topics.md, "Format"): one shm object
 * per topic holding a header, a history table, a subscriber slot table and a
 * byte log of framed messages that the one publisher writes once, whatever
 * the number of subscribers. Little-endian; every word another process
 * writes concurrently is 32-bit and accessed with Atomics.
 *
 *   line 0  (0..63)    magic 'SMTP', version, state, headerBytes, capacity,
 *                      maxSubscribers, historyMessages, policy, codec
 *                      fingerprint, evictAfterMs, publisher start time (f64),
 *                      publisher pid, joins (epoch), createdAt (f64)
 *   line 1  (64..127)  tail (bytes ever written, mod 2^32), next sequence
 *                      number, horizon (byte position of the oldest record
 *                      not overwritten), and the publisher's counters
 *   line 2  (128..191) the subscribers' wait word (ONE for all of them:
 *                      bit 0 "may sleep", bits 1..31 an epoch; wait-word.ts)
 *   line 3  (192..255) the publisher's wait word ('block', 'evict': it waits
 *                      for the slowest subscriber) and its counters
 *   512                history table: historyMessages u32 byte positions, the
 *                      record of sequence number s at entry s % historyMessages
 *   slotsOffset        maxSubscribers slots of SLOT_BYTES (below)
 *   dataOffset         the log: `capacity` bytes (a power of two)
 *
 * A record is a ring frame (../ring/format.ts): u32 length, u32 sequence
 * number (where a ring frame has its reserved word), the payload, padded to
 * 8; a frame never wraps: a wrap marker (length 0xFFFFFFFF) sends readers to
 * the start of the log. Before it overwrites bytes, the publisher moves the
 * horizon past every record they held; a reader copies a record and then
 * checks that the horizon has not passed it (a seqlock), so it never returns
 * a torn or overwritten message.
 */
export { FRAME_ALIGN, FRAME_HEADER_BYTES, frameBytes, WRAP_MARKER } from '../ring/format.js';

export const TOPIC_MAGIC = 0x50544d53; // 'SMTP' little-endian: bytes 'S','M','T','P'
export const TOPIC_VERSION = 1;
export const HEADER_BYTES = 512;
export const SLOT_BYTES = 64;

/** Limits. */
export const MIN_CAPACITY = 256;
export const MAX_CAPACITY = 2 ** 30;
export const MAX_SUBSCRIBERS = 1024;
export const MAX_HISTORY = 65536;
export const MAX_EVICT_AFTER_MS = 2 ** 31 - 1;

/** The state word. */
export const STATE = { starting: 0, open: 1, closed: 2 } as const;

/** What the publisher does about a subscriber that holds it back. */
export const POLICIES = ['block', 'drop-oldest', 'evict'] as const;
export type SlowSubscriberPolicy = (typeof POLICIES)[number];

/** Byte offsets of header fields. */
export const OFFSET = {
  magic: 0,
  version: 4,
  state: 8,
  headerBytes: 12,
  capacity: 16,
  maxSubscribers: 20,
  historyMessages: 24,
  policy: 28,
  codec: 32,
  evictAfterMs: 36,
  publisherStartTicks: 40, // f64: clock ticks since boot (/proc/PID/stat field 22)
  publisherPid: 48,
  joins: 52, // i32: bumped by every subscriber that joins, so the publisher rescans the slots
  createdAt: 56, // f64: ms since the epoch
  tail: 64, // u32: bytes ever written (mod 2^32), stored after the records it covers
  nextSeq: 68, // u32: sequence number of the next record, stored before the tail
  horizon: 72, // u32: byte position of the oldest record still intact
  tailSeq: 76, // u32: nextSeq again, stored after the tail (with nextSeq, a seqlock on the pair)
  published: 80, // f64
  publishedBytes: 88, // f64
  overwritten: 96, // f64: records the horizon passed (gone from the log)
  dataWord: 128, // i32: the subscribers' wait word
  dataWakes: 136, // f64: wakes the publisher sent subscribers
  publisherWord: 192, // i32: the publisher's wait word
  publisherParks: 200, // f64
  publisherWakes: 208, // f64: wakes subscribers sent the publisher
  evicted: 216, // f64: subscribers evicted ('evict')
} as const;

/** Slot states. */
export const SLOT_STATE = { free: 0, claimed: 1, active: 2, evicted: 3 } as const;

/** Byte offsets inside a slot. */
export const SLOT = {
  state: 0, // i32: SLOT_STATE
  generation: 4, // i32: bumped by every claim
  pid: 8, // i32
  cursor: 12, // u32: byte position of the subscriber's next record
  startTicks: 16, // f64
  delivered: 24, // f64: messages it read
  lagged: 32, // f64: messages it skipped (lapped under 'drop-oldest')
  parks: 40, // f64: times it slept
  lagEvents: 48, // f64: times it was lapped
} as const;

/** Where the history table, the slots and the log start, and the object's size. */
export interface Layout {
  historyOffset: number;
  slotsOffset: number;
  dataOffset: number;
  totalBytes: number;
}

function align64(bytes: number): number {
  return (bytes + 63) & ~63;
}

export function layoutOf(capacity: number, maxSubscribers: number, historyMessages: number): Layout {
  const historyOffset = HEADER_BYTES;
  const slotsOffset = align64(historyOffset + historyMessages * 4);
  const dataOffset = align64(slotsOffset + maxSubscribers * SLOT_BYTES);
  return { historyOffset, slotsOffset, dataOffset, totalBytes: dataOffset + capacity };
}

/** Index of a 32-bit word at byte `offset` in an Int32Array over the mapping. */
export function word(offset: number): number {
  return offset >> 2;
}

/** Index of a float64 at byte `offset` in a Float64Array over the mapping. */
export function f64(offset: number): number {
  return offset >> 3;
}
