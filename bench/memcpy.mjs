// The memcpy rows of `shmkit bench` (docs/benchmarks.md): the in-process
// ceiling of a copying transport. One thread stamps message `seq` into a
// source slot, copies it (Uint8Array.set into a destination slot, or slice()
// into a fresh buffer, as popSync does) and hands the copy to the same
// receiving loop as every transport, which verifies it. No second process,
// no synchronisation: what is left is the copy and the JS around it.
import { dropHook, makeTemplate, stamp } from './message.mjs';
import { ringCapacity } from './transports.mjs';

/**
 * A receiver for consumer(): recvSync() produces, copies and returns the next message.
 * prim.slots 'ring': rotate through as many slots as a ring data area of cfg.ringCapacity
 * bytes holds (a working set that outgrows the caches like a ring's), else one hot slot.
 */
export function memcpyEndpoint(prim, size, chosenCapacity) {
  const slots = prim.slots === 'ring' ? Math.max(1, Math.floor(ringCapacity(size, chosenCapacity) / size)) : 1;
  const sources = new Uint8Array(size * slots);
  const targets = new Uint8Array(size * slots);
  const slot = (area, n) => area.subarray(n * size, (n + 1) * size);
  const src = Array.from({ length: slots }, (_, n) => slot(sources, n));
  const dst = Array.from({ length: slots }, (_, n) => slot(targets, n));
  const template = makeTemplate(size);
  for (const s of src) s.set(template);
  const drop = dropHook(prim.id);
  let seq = 0;
  let i = 0;
  return {
    recvSync() {
      if (drop(seq)) seq = (seq + 1) >>> 0;
      stamp(src[i], 0, size, seq);
      seq = (seq + 1) >>> 0;
      const copy = prim.copy === 'slice' ? src[i].slice() : dst[i];
      if (prim.copy !== 'slice') copy.set(src[i]);
      i = i + 1 === slots ? 0 : i + 1;
      return copy;
    },
    close() {},
  };
}
