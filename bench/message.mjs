// The messages every `shmkit bench` transport carries, and how every receiver
// checks them (docs/benchmarks.md, "Verification"). Message `seq` of SIZE bytes
// is a fixed byte pattern, (i * 7 + 3) & 255 at offset i, overwritten by a
// stamp: seq, seq ^ K in the first 8 bytes and imul(seq, G), ~seq in the last 8.
// The receiver checks the length, that seq is the next one (nothing lost,
// duplicated or reordered), the stamp, and a sampled checksum: 8 body bytes at
// positions that move with seq, so over a run every stretch of the body is
// probed. (A full checksum in JS would cost more than most transports at 1 MiB:
// the number would measure the checksum. The C floors compare every byte.)

/** Smallest message the stamp fits in. */
export const MIN_SIZE = 24;
const K = 0x5bd1e995;
const G = 0x9e3779b1 | 0;
const PROBES = 8;

/** A receiver's complaint: the transport lost, reordered or corrupted a message. */
export class VerificationError extends Error {
  constructor(message) {
    super(`verification failed: ${message}`);
    this.name = 'VerificationError';
  }
}

/** The status and reason of a case that threw: a receiver's complaint (here or in a child) is 'failed-verification'. */
export function failure(error) {
  const verification = error?.verification || error?.name === 'VerificationError';
  return { status: verification ? 'failed-verification' : 'failed', reason: error?.message ?? String(error) };
}

function patternByte(i) {
  return (i * 7 + 3) & 255;
}

export function makeTemplate(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = patternByte(i);
  return bytes;
}

function put32(u8, at, value) {
  u8[at] = value;
  u8[at + 1] = value >>> 8;
  u8[at + 2] = value >>> 16;
  u8[at + 3] = value >>> 24;
}

function get32(u8, at) {
  return (u8[at] | (u8[at + 1] << 8) | (u8[at + 2] << 16) | (u8[at + 3] << 24)) >>> 0;
}

/** Stamps message `seq` into the SIZE bytes at `off` of `u8` (a template copy). */
export function stamp(u8, off, size, seq) {
  put32(u8, off, seq);
  put32(u8, off + 4, seq ^ K);
  put32(u8, off + size - 8, Math.imul(seq, G));
  put32(u8, off + size - 4, ~seq);
}

/** Checks everything but the seq word (a record carries seq in its own field). `off` may be -4 (see tq). */
function bodyError(u8, off, size, seq) {
  if (get32(u8, off + 4) !== (seq ^ K) >>> 0) return 'stamp (bytes 4..7) differs';
  if (get32(u8, off + size - 8) !== Math.imul(seq, G) >>> 0 || get32(u8, off + size - 4) !== ~seq >>> 0) {
    return 'stamp (last 8 bytes) differs';
  }
  const span = size - 16;
  let at = (Math.imul(seq, 0x2545f491) >>> 0) % span;
  const step = Math.max(1, Math.floor(span / PROBES));
  for (let p = 0; p < PROBES; p++) {
    const i = 8 + at;
    if (u8[off + i] !== patternByte(i)) return `byte ${i} is ${u8[off + i]}, expected ${patternByte(i)}`;
    at += step;
    if (at >= span) at -= span;
  }
  return undefined;
}

/** Throws a VerificationError unless `u8[off, off + length)` is message `seq` of SIZE bytes. */
export function verifyAt(u8, off, length, size, seq) {
  if (length !== size) throw new VerificationError(`message ${seq}: ${length} bytes, expected ${size}`);
  const got = get32(u8, off);
  if (got !== seq) {
    throw new VerificationError(`expected message ${seq}, got sequence number ${got} (lost, duplicated or reordered)`);
  }
  const error = bodyError(u8, off, size, seq);
  if (error) throw new VerificationError(`message ${seq}: ${error}`);
}

export function verifyBytes(u8, size, seq) {
  if (!(u8 instanceof Uint8Array)) throw new VerificationError(`message ${seq}: not bytes (${typeof u8})`);
  verifyAt(u8, 0, u8.length, size, seq);
}

/** A record / structured message: { seq, payload } with payload the SIZE-4 bytes after seq (records) or all SIZE. */
export function verifyPayload(seqField, payload, offset, size, seq) {
  if (seqField !== seq) throw new VerificationError(`expected record ${seq}, got seq ${seqField} (lost or reordered)`);
  if (!(payload instanceof Uint8Array) || payload.length !== size + offset) {
    throw new VerificationError(`record ${seq}: payload of ${payload?.length} bytes, expected ${size + offset}`);
  }
  const error = bodyError(payload, offset, size, seq);
  if (error) throw new VerificationError(`record ${seq}: ${error}`);
}

// String messages (process.send json): SIZE ASCII characters, seq and a derived word as hex at both ends.
function hex8(value) {
  return (value >>> 0).toString(16).padStart(8, '0');
}

export function stringMessage(middle, seq) {
  return hex8(seq) + middle + hex8(Math.imul(seq, G));
}

export function verifyString(message, size, seq) {
  if (typeof message !== 'string' || message.length !== size) {
    throw new VerificationError(
      `message ${seq}: expected ${size} characters, got ${typeof message} ${message?.length}`,
    );
  }
  const got = Number.parseInt(message.slice(0, 8), 16);
  if (got !== seq) throw new VerificationError(`expected message ${seq}, got sequence number ${got}`);
  if (message.slice(size - 8) !== hex8(Math.imul(seq, G)) || message.charCodeAt(size >> 1) !== 120) {
    throw new VerificationError(`message ${seq}: corrupt payload`);
  }
}

/**
 * Test hook (documented in docs/benchmarks.md): SHMKIT_BENCH_DROP=<id>[,<id>...]
 * makes those primitives' senders skip message 2 of their first run (of a
 * throughput case, and of a round-trip loop), as a broken transport would. The
 * receiver must then fail the case.
 */
export function dropHook(primitiveId) {
  let armed = (process.env.SHMKIT_BENCH_DROP ?? '').split(',').includes(primitiveId);
  return (seq) => {
    if (armed && seq === 2) {
      armed = false;
      return true;
    }
    return false;
  };
}
