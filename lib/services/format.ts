/**
 * The format of a service (docs/services.md, "Format"): one small shared
 * memory header per service, and a pair of SPSC rings per connection whose
 * messages are frames. Public and versioned, like the ring format.
 *
 * Header (little-endian), at offset 0 of the shm object named as the service:
 *
 *   0  u32  magic 'SVC1' (0x31435653)      4  u32  version (1)
 *   8  i32  state: 0 starting, 1 listening, 2 draining, 3 closed (a futex word:
 *           waiters for "listening" sleep on it)
 *  12  i32  doorbell: the server's wait word (bit 0 "may sleep", bits 1..31 an
 *           epoch; lib/structures/wait-word.ts): every client rings it after
 *           publishing requests, so N idle clients cost the server one sleep
 *  16  i32  server pid               20  u32  codec fingerprint (codecs.ts)
 *  24  f64  server start time (clock ticks since boot, /proc/PID/stat field 22)
 *  32  u32  maxClients  36 u32 maxInFlightPerClient
 *  40  u32  requestCapacityBytes     44  u32  responseCapacityBytes
 *  48  f64  createdAt (ms since the epoch)
 *  56  i32  slots freed: bumped (and futex-woken) whenever a slot is freed, so
 *           clients waiting for a slot (waitForSlot) sleep on it
 * 128  f64 × 16  counters, written by the server only (COUNTER below)
 * 256  slots: SLOT_BYTES each, maxClients of them
 *
 * Slot (a client's claim on a connection):
 *   +0  i32 state: 0 free, 1 claimed (the client creates its rings),
 *           2 ready (rings exist; HELLO sent), 3 connected (the server accepted)
 *   +4  i32 generation: bumped by every claim; the rings' names carry it, so a
 *           reused slot never meets an earlier connection's rings
 *   +8  i32 client pid
 *  +12  i32 why the server ended the connection, written as it frees the slot
 *           (DROP_REASON: 1 closed, 2 died, 3 slow-consumer, 4 protocol; 0
 *           while connected): a client whose last frame did not fit in its
 *           ring reads it here
 *  +16  f64 client start time (clock ticks)
 *
 * Frames (ring messages): an 8-byte head, the method or event name (UTF-8),
 * then the payload encoded by the service's codec:
 *   u8 type, u8 flags, u16 name bytes, u32 id (the call it belongs to; 0 for none)
 * A stream's chunks are paced by credit (STREAM_WINDOW below).
 */

export const MAGIC = 0x31435653; // 'SVC1' little-endian
export const VERSION = 1;

/** Int32 indices into the header. */
export const I32 = {
  magic: 0,
  version: 1,
  state: 2,
  doorbell: 3,
  serverPid: 4,
  codec: 5,
  maxClients: 8,
  maxInFlightPerClient: 9,
  requestCapacityBytes: 10,
  responseCapacityBytes: 11,
  slotsFreed: 14,
} as const;

/** Float64 indices into the header. */
export const F64 = { serverStartTicks: 3, createdAt: 6 } as const;

export const STATE = { starting: 0, listening: 1, draining: 2, closed: 3 } as const;
export type ServiceState = keyof typeof STATE;
export const STATE_NAMES: readonly ServiceState[] = ['starting', 'listening', 'draining', 'closed'];

/** The counters: Float64 indices (from byte 128). */
export const COUNTER = {
  callsStarted: 16,
  callsCompleted: 17,
  callsFailed: 18,
  callsCancelled: 19,
  inFlight: 20,
  peakInFlight: 21,
  bytesIn: 22,
  bytesOut: 23,
  connections: 24,
  disconnections: 25,
  evictions: 26,
  notifications: 27,
  streamChunks: 28,
  /** Cancellations the caller sent because its timeoutMs ran out (counted in callsCancelled too). */
  callsTimedOut: 29,
} as const;
export type CounterName = keyof typeof COUNTER;

export const SLOTS_OFFSET = 256;
export const SLOT_BYTES = 64;
export const SLOT = { state: 0, generation: 1, pid: 2, reason: 3 } as const; // Int32 indices within a slot
export const SLOT_START_TICKS = 2; // Float64 index within a slot
export const SLOT_STATE = { free: 0, claimed: 1, ready: 2, connected: 3 } as const;
/** The slot's reason word: why the server ended the connection (the 'disconnect' reasons). */
export const DROP_REASONS = ['', 'closed', 'died', 'slow-consumer', 'protocol'] as const;

/** Bytes of a header for `maxClients` slots. */
export function headerBytes(maxClients: number): number {
  return SLOTS_OFFSET + SLOT_BYTES * maxClients;
}

/** Int32 index of field `field` of slot `slot`. */
export function slotI32(slot: number, field: number): number {
  return (SLOTS_OFFSET + slot * SLOT_BYTES) / 4 + field;
}

/** Float64 index of the start time of slot `slot`. */
export function slotF64(slot: number): number {
  return (SLOTS_OFFSET + slot * SLOT_BYTES) / 8 + SLOT_START_TICKS;
}

/** The request and response rings of a connection: '<service>.<slot>.<generation>.req' / '.res'. */
export function ringNames(service: string, slot: number, generation: number): { req: string; res: string } {
  const base = `${service}.${slot}.${generation >>> 0}`;
  return { req: `${base}.req`, res: `${base}.res` };
}

/**
 * Frame types: client → server. CANCEL's name says why: 'timed-out' (the
 * caller's timeoutMs ran out) or '' (aborted, or a stream left early).
 */
export const REQ = { call: 1, stream: 2, notify: 3, cancel: 4, hello: 5, bye: 6, credit: 7 } as const;

/**
 * Stream flow control: the server sends at most this many chunks of a
 * stream ahead of what the caller's loop has taken; the client returns
 * credit (a CREDIT frame: the stream's id, the count as a u32 payload) each
 * time its loop has taken half of it. So a slow loop pauses the server's
 * generator instead of piling chunks up in the client's memory.
 */
export const STREAM_WINDOW = 64;

/** A CREDIT frame's payload: `count` chunks taken. */
export function creditPayload(count: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, count, true);
  return bytes;
}

/** The count of a CREDIT payload (0 if it is not 4 bytes). */
export function readCredit(payload: Uint8Array): number {
  return payload.length === 4 ? new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true) : 0;
}
/**
 * Frame types: server → client. CLOSED carries the reason in its name
 * ('closed', 'slow-consumer', 'protocol'); ERROR's payload is
 * { message, code?, name?, data? }; HELLO, WELCOME and REFUSE are JSON
 * (./handshake.ts); CANCEL, BYE, END and GOAWAY have no payload.
 */
export const RES = {
  result: 16,
  error: 17,
  chunk: 18,
  end: 19,
  event: 20,
  goaway: 21,
  welcome: 22,
  refuse: 23,
  closed: 24,
} as const;

export const FRAME_HEAD = 8;

export interface Frame {
  type: number;
  id: number;
  name: string;
  /** The codec's bytes (a view: decode before the ring slot is released). */
  payload: Uint8Array;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The UTF-8 bytes of the names used lately: a service has a handful of
 * methods, and encoding the name anew for every frame showed in profiles.
 * Bounded: past NAME_CACHE_SIZE names it starts over.
 */
const nameBytesCache = new Map<string, Uint8Array>();
const NAME_CACHE_SIZE = 1024;

function nameBytes(name: string): Uint8Array {
  let bytes = nameBytesCache.get(name);
  if (bytes === undefined) {
    bytes = utf8.encode(name);
    if (nameBytesCache.size >= NAME_CACHE_SIZE) nameBytesCache.clear();
    nameBytesCache.set(name, bytes);
  }
  return bytes;
}

/** A frame: head, name, payload. */
export function encodeFrame(type: number, id: number, name: string, payload: Uint8Array): Uint8Array {
  const nameOf = name === '' ? EMPTY : nameBytes(name);
  const nameLength = nameOf.length;
  if (nameLength > 0xffff) throw new RangeError(`a method or event name is at most 65535 bytes (got ${nameLength})`);
  const frame = new Uint8Array(FRAME_HEAD + nameLength + payload.length);
  // Byte by byte rather than through a DataView: one allocation fewer per frame.
  frame[0] = type;
  frame[2] = nameLength & 0xff;
  frame[3] = nameLength >>> 8;
  frame[4] = id & 0xff;
  frame[5] = (id >>> 8) & 0xff;
  frame[6] = (id >>> 16) & 0xff;
  frame[7] = id >>> 24;
  if (nameLength > 0) frame.set(nameOf, FRAME_HEAD);
  frame.set(payload, FRAME_HEAD + nameLength);
  return frame;
}
const EMPTY = new Uint8Array(0);

/**
 * Reads a frame's head and name; undefined when the bytes are not a frame
 * (too short, a name past the end or not UTF-8): a peer wrote garbage.
 */
export function decodeFrame(bytes: Uint8Array): Frame | undefined {
  if (bytes.length < FRAME_HEAD) return undefined;
  const nameLength = bytes[2]! | (bytes[3]! << 8);
  if (FRAME_HEAD + nameLength > bytes.length) return undefined;
  const name = nameLength === 0 ? '' : readName(bytes, nameLength);
  if (name === undefined) return undefined;
  return {
    type: bytes[0]!,
    id: (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0,
    name,
    payload: bytes.subarray(FRAME_HEAD + nameLength),
  };
}

/** The name of a frame: short ASCII names (methods, events) without a TextDecoder call; undefined if not UTF-8. */
function readName(bytes: Uint8Array, nameLength: number): string | undefined {
  if (nameLength <= 32) {
    let name = '';
    let i = FRAME_HEAD;
    for (; i < FRAME_HEAD + nameLength; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x80) break;
      name += String.fromCharCode(byte);
    }
    if (i === FRAME_HEAD + nameLength) return name;
  }
  try {
    return fromUtf8.decode(bytes.subarray(FRAME_HEAD, FRAME_HEAD + nameLength));
  } catch {
    return undefined;
  }
}
