/**
 * Which ArrayBuffers are shmkit mappings, and the futex waits pending on
 * each, so that SharedMemory.close() can reject them.
 */
import { PendingWaits } from './pending.js';

const mappings = new WeakSet<ArrayBufferLike>();
const waitsByBuffer = new WeakMap<ArrayBufferLike, PendingWaits>();

export function registerMapping(buffer: ArrayBuffer): void {
  mappings.add(buffer);
}

export function isMapping(buffer: ArrayBufferLike): boolean {
  return mappings.has(buffer);
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
