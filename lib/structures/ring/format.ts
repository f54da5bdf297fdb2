/**
 * The binary layout of a ring buffer in shared memory — a public, versioned
 * format (docs/ring-format.md; C: native/include/shmkit/ring.h).
 *
 * One shm object = a 512-byte header + a data area of `capacity` bytes (a
 * power of two). All words are little-endian; every word another process
 * writes concurrently is 32-bit and accessed with Atomics.
 *
 *   line 0  (0..63)    magic, version, flags, headerBytes, capacity, ready,
 *                      fingerprint, creatorPid
 *   line 1  (64..127)  tail: producers' byte counter (mod 2^32); push stats
 *   line 2  (128..191) head: consumers' byte counter (mod 2^32); pop stats
 *   line 3  (192..255) producer lock word (owner pid | FUTEX_WAITERS); at 200
 *                      its owner record (optional, see below)
 *   line 4  (256..319) consumer lock word; at 264 its owner record
 *   line 5  (320..383) consumer wait word (bit 0: may sleep; bits 1..31: epoch); parks / wakes
 *   line 6  (384..447) producer wait word (bit 0: may sleep; bits 1..31: epoch); parks / wakes
 *   line 7  (448..511) lock recoveries (f64: locks taken over from dead owners)
 *
 * A message is a frame at an 8-aligned offset: u32 length, u32 reserved
 * (0), then `length` payload bytes, padded to 8. A frame never wraps: when it
 * does not fit before the end of the data area, the producer writes a wrap
 * marker (length 0xFFFFFFFF) and starts again at offset 0. A producer
 * publishes frames by storing `tail` last; a consumer frees them by storing
 * `head`. Everything read from the header or a frame is bounds-checked.
 *
 * An owner record (optional in version 1: readers that do not know it ignore
 * it) is a u64 accessed atomically as a whole: low 32 bits the owner's pid,
 * high 32 bits the low 32 bits of its /proc/PID/stat starttime (clock ticks
 * since boot); 0 = unknown. A locker stores it after its CAS and clears it
 * before its unlock, so a live pid that now names another process is seen
 * as the dead owner it is (lib/structures/lock-word.ts).
 */

export const RING_MAGIC = 0x52484d53; // 'SMHR' little-endian: bytes 'S','M','H','R'
export const RING_VERSION = 1;
export const HEADER_BYTES = 512;
export const READY = 0x1; // ready word value, stored last with release ordering

/** Flags word bits. */
export const FLAG_MULTI_PRODUCER = 0x1;
export const FLAG_MULTI_CONSUMER = 0x2;
export const KNOWN_FLAGS = FLAG_MULTI_PRODUCER | FLAG_MULTI_CONSUMER;

/** Frames. */
export const FRAME_HEADER_BYTES = 8;
export const FRAME_ALIGN = 8;
export const WRAP_MARKER = 0xffffffff;

/** Capacity bounds: a power of two, so offsets are `counter & (capacity - 1)`. */
export const MIN_CAPACITY = 64;
export const MAX_CAPACITY = 2 ** 30;

/** Byte offsets of header fields. */
export const OFFSET = {
  magic: 0,
  version: 4,
  flags: 8,
  headerBytes: 12,
  capacity: 16,
  ready: 20,
  fingerprint: 24,
  creatorPid: 28,
  tail: 64,
  pushedMessages: 72, // f64
  pushedBytes: 80, // f64
  highWaterBytes: 88, // f64
  head: 128,
  poppedMessages: 136, // f64
  poppedBytes: 144, // f64
  producerLock: 192,
  producerLockOwner: 200, // u64 owner record: pid | startTicks << 32 (0: unknown)
  consumerLock: 256,
  consumerLockOwner: 264, // u64 owner record of the consumer lock
  consumerSleeping: 320, // consumers' wait word: bit 0 = may sleep, bits 1..31 = epoch
  consumerParks: 328, // f64
  consumerWakes: 336, // f64: wakes sent to consumers
  producerSleeping: 384, // producers' wait word: bit 0 = may sleep, bits 1..31 = epoch
  producerParks: 392, // f64
  producerWakes: 400, // f64: wakes sent to producers
  lockRecoveries: 448, // f64: producer/consumer locks taken over from a dead owner
} as const;

/** Index of a 32-bit header word in an Int32Array over the mapping. */
export function word(offset: number): number {
  return offset >> 2;
}

/** Index of a float64 stats field in a Float64Array over the mapping. */
export function f64(offset: number): number {
  return offset >> 3;
}

/** Bytes a frame of `length` payload bytes takes, header and padding included. */
export function frameBytes(length: number): number {
  return (FRAME_HEADER_BYTES + length + FRAME_ALIGN - 1) & ~(FRAME_ALIGN - 1);
}

/** The smallest power of two >= n (n >= 1). */
export function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
