// A minimal single-producer single-consumer ring of fixed-size slots in a
// SharedArrayBuffer, for the worker_threads row of `shmkit bench` (the
// in-process ceiling): Atomics on head/tail, Atomics.wait/notify to sleep
// and wake. Each slot holds a u32 length and up to `slotBytes` bytes.
const HEAD = 0;
const TAIL = 16; // another cache line

export function createSabRing(slotBytes, slots) {
  const stride = (4 + slotBytes + 7) & ~7;
  return { sab: new SharedArrayBuffer(128 + stride * slots), slotBytes, slots, stride };
}

export function sabEndpoint({ sab, slotBytes, slots, stride }) {
  const words = new Int32Array(sab, 0, 32);
  const data = new Uint8Array(sab, 128);
  const view = new DataView(sab, 128);
  let local = 0; // our own counter (tail for the producer, head for the consumer)
  const target = new Uint8Array(slotBytes);
  return {
    send(message) {
      if (message.length > slotBytes) throw new RangeError(`message of ${message.length} bytes > slot ${slotBytes}`);
      for (;;) {
        const head = Atomics.load(words, HEAD);
        if (((local - head) | 0) < slots) break;
        Atomics.wait(words, HEAD, head, 1000);
      }
      const at = (local % slots) * stride;
      view.setUint32(at, message.length, true);
      data.set(message, at + 4);
      local = (local + 1) | 0;
      Atomics.store(words, TAIL, local);
      Atomics.notify(words, TAIL, 1);
    },
    recvSync() {
      while (Atomics.load(words, TAIL) === local) Atomics.wait(words, TAIL, local, 1000);
      const at = (local % slots) * stride;
      const length = view.getUint32(at, true);
      target.set(data.subarray(at + 4, at + 4 + length));
      local = (local + 1) | 0;
      Atomics.store(words, HEAD, local);
      Atomics.notify(words, HEAD, 1);
      return length === slotBytes ? target : target.subarray(0, length);
    },
  };
}
