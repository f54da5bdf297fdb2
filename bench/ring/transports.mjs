// One producer and one consumer per transport, plus the ping-pong pairs of
// the wake-up latency test. Every receiver checks every message (length,
// consecutive u32 sequence number, the first and last 8 bytes, a middle byte)
// and throws on the first mismatch, so a broken transport cannot post a fast
// number. Consumers time from the first message received to the last.
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  makeTemplate,
  stamp,
  stringMessage,
  verifyAt,
  verifyBytes as verifyMessage,
  verifyPayload,
  verifyString,
} from '../message.mjs';
import { armedReceiver, frameParser, PING, PONG } from '../transports.mjs';

export { MIN_SIZE, makeTemplate, stamp } from '../message.mjs';
export { futexEcho } from '../transports.mjs';

export const TRANSPORTS = [
  { id: 'ring-spsc', label: 'ring SPSC', kind: 'ring', api: 'pushSync(bytes) / popSync() (a fresh copy per message)' },
  {
    id: 'ring-spsc-into',
    label: 'ring SPSC popInto',
    kind: 'ring',
    api: 'pushSync(bytes) / popIntoSync(reused buffer) (one copy in, one copy out, no allocation)',
  },
  {
    id: 'ring-spsc-zc',
    label: 'ring SPSC zero-copy',
    kind: 'ring',
    api: 'claimSync(n) + fill + commit() / peekSync() + copy into a reused buffer + release()',
  },
  {
    id: 'ring-spsc-spin',
    label: 'ring SPSC spinUs 1000 (diagnostic)',
    kind: 'ring',
    spinUs: 1000,
    diagnostic: true,
    api: 'as ring SPSC, both ends opened with spinUs 1000: waits spin through the cross-vCPU wake-up instead of parking',
  },
  {
    id: 'ring-mpmc',
    label: 'ring MPMC',
    kind: 'ring',
    sides: { producers: 'multi', consumers: 'multi' },
    api: 'multi/multi ring, 1 producer + 1 consumer: pushSync(bytes) / popSync()',
  },
  {
    id: 'typed-queue',
    label: 'TypedQueue records',
    kind: 'typed-queue',
    api: "{ seq: 'u32', payload: 'bytes:N-4' }: pushSync(record) / popIntoSync(reused record)",
  },
  {
    id: 'ipc-json',
    label: 'process.send',
    kind: 'ipc',
    serialization: 'json',
    api: "child.send(string of N ASCII chars), serialization 'json'",
  },
  {
    id: 'ipc-advanced',
    label: 'process.send advanced',
    kind: 'ipc',
    serialization: 'advanced',
    api: "child.send(Uint8Array), serialization 'advanced'",
  },
  {
    id: 'unix',
    label: 'unix socket',
    kind: 'unix',
    api: 'net over a Unix socket path: one write per 4-byte-length-prefixed frame; consumer reassembles',
  },
];

// ------------------------------------------------------------ message stamp

// The messages and their checks are those of `shmkit bench` (bench/message.mjs),
// with the body probed at its middle byte only.
const PROBE = 'middle';

function verifyBytes(u8, size, seq) {
  verifyMessage(u8, size, seq, PROBE);
}

/** consume(count) → { t0, t1 } (ms, performance.now()): times from the first message received to the last. */
function timed(receive) {
  return (count) => {
    receive();
    const t0 = performance.now();
    for (let i = 1; i < count; i++) receive();
    return { t0, t1: performance.now() };
  };
}

// ------------------------------------------------------------ rings

/** A ring that holds at least four messages and at least 1 MiB. */
export function ringCapacity(size) {
  let capacity = 1 << 20;
  while (capacity < 4 * (size + 16)) capacity *= 2;
  return capacity;
}

/** TypedQueue capacity in records: about the ring's bytes. */
export function queueCapacity(size) {
  return Math.max(7, Math.floor(ringCapacity(size) / (size + 16)));
}

export function typedQueueSchema(size) {
  return { seq: 'u32', payload: `bytes:${size - 4}` };
}

/** Producer side of a ring transport: returns produce(count), which blocks until all are pushed. */
export function ringProducer(ring, transportId, size) {
  const template = makeTemplate(size);
  let seq = 0;
  if (transportId === 'ring-spsc-zc') {
    return (count) => {
      for (let i = 0; i < count; i++) {
        const view = ring.claimSync(size);
        view.set(template);
        stamp(view, 0, size, seq);
        ring.commit();
        seq = (seq + 1) >>> 0;
      }
    };
  }
  return (count) => {
    for (let i = 0; i < count; i++) {
      stamp(template, 0, size, seq);
      ring.pushSync(template);
      seq = (seq + 1) >>> 0;
    }
  };
}

/** Consumer side of a ring transport: returns consume(count) → { t0, t1 } (ms, performance.now()). */
export function ringConsumer(ring, transportId, size) {
  let seq = 0;
  let receive;
  if (transportId === 'ring-spsc-zc') {
    const copy = new Uint8Array(size);
    receive = () => {
      const view = ring.peekSync();
      if (view.length !== size) {
        ring.release();
        verifyAt(view, 0, view.length, size, seq, PROBE); // throws: wrong length
      }
      copy.set(view);
      ring.release();
      verifyAt(copy, 0, size, size, seq, PROBE);
    };
  } else if (transportId === 'ring-spsc-into') {
    const target = new Uint8Array(size);
    receive = () => verifyAt(target, 0, ring.popIntoSync(target), size, seq, PROBE);
  } else {
    receive = () => verifyBytes(ring.popSync(), size, seq);
  }
  return timed(() => {
    receive();
    seq = (seq + 1) >>> 0;
  });
}

// ------------------------------------------------------------ TypedQueue records

export function queueProducer(queue, size) {
  const template = makeTemplate(size);
  const record = { seq: 0, payload: template.subarray(4) };
  let seq = 0;
  return (count) => {
    for (let i = 0; i < count; i++) {
      stamp(template, 0, size, seq);
      record.seq = seq;
      queue.pushSync(record);
      seq = (seq + 1) >>> 0;
    }
  };
}

/** popIntoSync(target) when the queue has it (decodes into one reused record), else popSync(). */
export function queueConsumer(queue, size) {
  let seq = 0;
  const target = { seq: 0, payload: new Uint8Array(size - 4) };
  const pop = typeof queue.popIntoSync === 'function' ? () => queue.popIntoSync(target) : () => queue.popSync();
  return timed(() => {
    const record = pop();
    verifyPayload(record?.seq, record?.payload, -4, size, seq, PROBE);
    seq = (seq + 1) >>> 0;
  });
}

// ------------------------------------------------------------ process.send

/**
 * Producer in the parent: sends `count` messages to `child`, keeping at most
 * about 4 MiB (and 1024 messages) unsent so the channel's queue stays bounded.
 */
export function ipcProducer(child, serialization, size) {
  const template = makeTemplate(size);
  const middle = 'x'.repeat(size - 16);
  const window = Math.max(2, Math.min(1024, Math.floor((4 << 20) / size)));
  let seq = 0;
  return async (count) => {
    let sent = 0;
    let done = 0;
    let failure;
    let resume;
    const onSent = (error) => {
      if (error) failure = error;
      done++;
      if (resume && sent - done <= window >> 1) {
        const wake = resume;
        resume = undefined;
        wake();
      }
    };
    for (let i = 0; i < count; i++) {
      let message;
      if (serialization === 'json') {
        message = stringMessage(middle, seq);
      } else {
        stamp(template, 0, size, seq); // serialised inside send(): reusing the buffer is safe
        message = template;
      }
      if (!child.connected) throw new Error('consumer disconnected');
      child.send(message, onSent);
      sent++;
      seq = (seq + 1) >>> 0;
      if (failure) throw failure;
      if (sent - done >= window) {
        await new Promise((resolve) => {
          resume = resolve;
        });
      }
    }
  };
}

/** Consumer in the child: feed(message) for every data message; arm(count) → Promise<{ t0, t1 }>. */
export function ipcConsumer(serialization, size) {
  const verify = serialization === 'json' ? verifyString : verifyBytes;
  const { feed, arm } = armedReceiver(
    (message, seq) => verify(message, size, seq),
    () => new Error('data message outside a run'),
  );
  return { feed, arm };
}

// ------------------------------------------------------------ unix socket

/** Producer: connects to `path`; produce(count) writes 4-byte-length-prefixed frames, honouring backpressure. */
export async function unixProducer(path, size) {
  const socket = net.connect(path);
  await once(socket, 'connect');
  socket.setNoDelay?.(true);
  const template = makeTemplate(size);
  let seq = 0;
  const produce = async (count) => {
    for (let i = 0; i < count; i++) {
      const frame = Buffer.allocUnsafe(size + 4); // write() may keep it queued: one buffer per frame
      frame.writeUInt32LE(size, 0);
      frame.set(template, 4);
      stamp(frame, 4, size, seq);
      seq = (seq + 1) >>> 0;
      if (!socket.write(frame)) await once(socket, 'drain');
    }
  };
  return { produce, close: () => socket.destroy() };
}

/**
 * Consumer: listens on `path` and reassembles frames (verified in place when
 * a chunk holds a whole frame, else copied into one buffer of the frame's size).
 */
export async function unixConsumer(path, size) {
  const server = net.createServer();
  server.listen(path);
  await once(server, 'listening');
  const { feed, fail, arm } = armedReceiver(
    (view, seq) => verifyAt(view, 0, view.length, size, seq, PROBE),
    () => new Error('frame outside a run'),
  );
  const onData = frameParser(feed, fail, size);
  server.on('connection', (socket) => {
    socket.on('data', onData);
    socket.on('error', fail);
  });
  return { arm, close: () => server.close() };
}

// ------------------------------------------------------------ wake-up latency (ping-pong)

/** Round trips over ring `out` → peer → ring `back`; returns µs per round trip (after `warm` discarded). */
export function ringPing(out, back, rounds, warm) {
  const message = makeTemplate(64);
  const samples = new Float64Array(rounds);
  for (let i = 0; i < warm + rounds; i++) {
    const t0 = performance.now();
    stamp(message, 0, 64, i);
    out.pushSync(message);
    const reply = back.popSync();
    const t1 = performance.now();
    verifyBytes(reply, 64, i);
    if (i >= warm) samples[i - warm] = (t1 - t0) * 1000;
  }
  return samples;
}

export function ringEcho(inbound, outbound, total) {
  for (let i = 0; i < total; i++) outbound.pushSync(inbound.popSync());
}

export function futexPing(futex, words, rounds, warm) {
  const samples = new Float64Array(rounds);
  for (let i = 1; i <= warm + rounds; i++) {
    const t0 = performance.now();
    Atomics.store(words, PING, i);
    futex.wake(words, PING, 1);
    while (Atomics.load(words, PONG) !== i) futex.waitSync(words, PONG, i - 1);
    const t1 = performance.now();
    if (i > warm) samples[i - 1 - warm] = (t1 - t0) * 1000;
  }
  Atomics.store(words, PING, -1);
  futex.wake(words, PING, 1);
  return samples;
}
