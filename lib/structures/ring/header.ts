/**
 * Creating and validating a ring's header (lib/structures/ring/format.ts). Opening
 * trusts nothing in the object: every field is checked against the object's
 * real size before the ring is used.
 */
import os from 'node:os';
import { requireCapability } from '../../core/binding.js';
import { codedError, unsupportedError } from '../../core/errors.js';
import { sleepWordSync, wakeWord } from '../../primitives/futex.js';
import { SharedMemory } from '../../primitives/shm.js';
import {
  HEADER_BYTES,
  KNOWN_FLAGS,
  MAX_CAPACITY,
  MIN_CAPACITY,
  OFFSET,
  READY,
  RING_MAGIC,
  RING_VERSION,
  word,
} from './format.js';

export interface RingHeader {
  capacity: number;
  flags: number;
  fingerprint: number;
}

/** How long open() waits for a creator that has not finished its header. */
const READY_WAIT_MS = 250;

const RECREATE = 'unlink it and create it again';

/** `ERR_SHMKIT_RING_FORMAT`: the object is not a ring this shmkit can open. */
function formatError(message: string): Error & { code: string } {
  return codedError('ERR_SHMKIT_RING_FORMAT', message);
}

/** A ring header whose fields contradict each other or the object (written outside the format). */
function corruptHeader(name: string, detail: string): Error & { code: string } {
  return formatError(`ring '${name}' has a corrupt header: ${detail}; ${RECREATE}`);
}

/** A magic word as its four bytes, e.g. 'SMMX', when they are printable. */
function magicText(magic: number): string {
  const bytes = [magic & 0xff, (magic >>> 8) & 0xff, (magic >>> 16) & 0xff, magic >>> 24];
  const printable = bytes.every((b) => b >= 0x20 && b < 0x7f);
  return `0x${magic.toString(16).padStart(8, '0')}${printable ? ` ('${String.fromCharCode(...bytes)}')` : ''}`;
}

/** Why an object whose first word is `magic` (not the ring magic) is not a ring. */
function notARing(name: string, magic: number): Error & { code: string } {
  if (magic === 0) {
    return formatError(
      `'${name}' is a plain shared-memory segment, not a shmkit ring (it starts with zeros, not a ring header): ` +
        'open it with SharedMemory.open(), or give the ring another name',
    );
  }
  return formatError(
    `'${name}' is not a shmkit ring: it starts with ${magicText(magic)}, where a ring starts with ` +
      `${magicText(RING_MAGIC)}; it belongs to something else: give the ring another name`,
  );
}

/** Rings need a little-endian host (the format is little-endian) and futex(2) to park and wake. */
function checkHost(): void {
  if (os.endianness() !== 'LE') {
    throw unsupportedError('shmkit ring buffers need a little-endian host.');
  }
  requireCapability('futex', 'shmkit ring buffers (they park and wake with futex(2)) are');
}

export function createRingMapping(
  name: string,
  options: { capacity: number; flags: number; fingerprint: number; mode: number | undefined },
): { shm: SharedMemory; header: RingHeader } {
  checkHost();
  const shm = SharedMemory.create(name, { size: HEADER_BYTES + options.capacity, mode: options.mode ?? 0o600 });
  const view = new DataView(shm.buffer);
  view.setUint32(OFFSET.magic, RING_MAGIC, true);
  view.setUint32(OFFSET.version, RING_VERSION, true);
  view.setUint32(OFFSET.flags, options.flags, true);
  view.setUint32(OFFSET.headerBytes, HEADER_BYTES, true);
  view.setUint32(OFFSET.capacity, options.capacity, true);
  view.setUint32(OFFSET.fingerprint, options.fingerprint >>> 0, true);
  view.setUint32(OFFSET.creatorPid, process.pid, true);
  const words = new Int32Array(shm.buffer, 0, HEADER_BYTES / 4);
  Atomics.store(words, word(OFFSET.ready), READY); // last: the header is complete
  wakeWord(words, word(OFFSET.ready), 2147483647);
  return { shm, header: { capacity: options.capacity, flags: options.flags, fingerprint: options.fingerprint >>> 0 } };
}

export function openRingMapping(name: string): { shm: SharedMemory; header: RingHeader } {
  checkHost();
  const shm = SharedMemory.open(name);
  try {
    return { shm, header: validateHeader(shm) };
  } catch (error) {
    shm.close();
    throw error;
  }
}

function waitReady(shm: SharedMemory): boolean {
  const words = new Int32Array(shm.buffer, 0, HEADER_BYTES / 4);
  const deadline = performance.now() + READY_WAIT_MS;
  for (;;) {
    const ready = Atomics.load(words, word(OFFSET.ready));
    if (ready === READY) return true;
    const left = deadline - performance.now();
    if (ready !== 0 || left <= 0) return false;
    sleepWordSync(words, word(OFFSET.ready), 0, Math.min(left, 10));
  }
}

function validateHeader(shm: SharedMemory): RingHeader {
  const name = shm.name;
  if (shm.size < HEADER_BYTES) {
    throw formatError(
      `'${name}' is not a shmkit ring: the object is ${shm.size} bytes, smaller than the ${HEADER_BYTES}-byte header of a ring`,
    );
  }
  const view = new DataView(shm.buffer);
  // A creator may still be writing the header (the object starts zero-filled).
  const ready = waitReady(shm);
  const magic = view.getUint32(OFFSET.magic, true);
  if (magic !== RING_MAGIC) throw notARing(name, magic);
  if (!ready) {
    throw formatError(
      `ring '${name}' was never finished: its creator did not complete the header (it may have died creating it); ${RECREATE}`,
    );
  }
  const version = view.getUint32(OFFSET.version, true);
  if (version !== RING_VERSION) {
    throw formatError(
      `ring '${name}' has format version ${version}, and this shmkit reads version ${RING_VERSION}: ` +
        `open it with the shmkit release that created it, or ${RECREATE} with this one`,
    );
  }
  const headerBytes = view.getUint32(OFFSET.headerBytes, true);
  if (headerBytes !== HEADER_BYTES) throw corruptHeader(name, `header size ${headerBytes}, expected ${HEADER_BYTES}`);
  const capacity = view.getUint32(OFFSET.capacity, true);
  const powerOfTwo = capacity > 0 && (capacity & (capacity - 1)) === 0;
  if (!powerOfTwo || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY)
    throw corruptHeader(name, `capacity ${capacity} is not a power of two in [${MIN_CAPACITY}, ${MAX_CAPACITY}]`);
  if (HEADER_BYTES + capacity > shm.size)
    throw corruptHeader(name, `capacity ${capacity} does not fit in the ${shm.size}-byte object`);
  const flags = view.getUint32(OFFSET.flags, true);
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw formatError(
      `ring '${name}' has unknown flags 0x${flags.toString(16)} (a newer shmkit, or a corrupt header): ` +
        `open it with the shmkit release that created it, or ${RECREATE}`,
    );
  }
  return { capacity, flags, fingerprint: view.getUint32(OFFSET.fingerprint, true) };
}
