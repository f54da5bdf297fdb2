/**
 * Which ArrayBuffers are shmkit mappings — a segment's whole mapping or one
 * of its windows (SharedMemory.map()), each its own mmap(2) — and the futex
 * waits pending on each, so that SharedMemory.close(), resize() and unmap()
 * can reject them. futex.wait accepts a view of any registered mapping.
 */
import { PendingWaits } from './pending.js';

const mappings = new WeakSet<ArrayBufferLike>();
const waitsByBuffer = new WeakMap<ArrayBufferLike, PendingWaits>();

/** Marks `buffer` (from binding.shm.map: a whole segment or a window) as a mapping. */
export function registerMapping(buffer: ArrayBuffer): void {
  mappings.add(buffer);
}

export function isMapping(buffer: ArrayBufferLike): boolean {
  return mappings.has(buffer);
}

/**
 * Whether `buffer` is a mapping that was unmapped (its handle closed, or
 * resized onto a new mapping). A live mapping is never empty (a zero-size
 * segment gets a plain ArrayBuffer, not a mapping), so an empty one was
 * detached by the unmap.
 */
export function isUnmapped(buffer: ArrayBufferLike): boolean {
  return buffer.byteLength === 0 && mappings.has(buffer);
}

/** The pending futex waits over `buffer` (a mapping or a SharedArrayBuffer). */
export function waitsOn(buffer: ArrayBufferLike): PendingWaits {
  let waits = waitsByBuffer.get(buffer);
  if (!waits) {
    waits = new PendingWaits();
    waitsByBuffer.set(buffer, waits);
  }
  return waits;
}
