// One producer and one consumer per transport, plus the ping-pong pairs of
// the wake-up latency test. Every receiver checks every message (length,
// consecutive u32 sequence number, the first and last 8 bytes, a middle byte)
// and throws on the first mismatch, so a broken transport cannot post a fast
// number. Consumers time from the first message received to the last.
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Smallest message the stamp fits in (first 8 bytes, middle byte, last 8 bytes). */
export const MIN_SIZE = 24;

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

const K = 0x5bd1e995;
const G = 0x9e3779b1 | 0;

function middleByte(size) {
  return ((size >> 1) * 7 + 3) & 255;
}

/** A message body: a byte pattern the stamp then overwrites at both ends. */
export function makeTemplate(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + 3) & 255;
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

/** Writes seq and three words derived from it into the first and last 8 bytes of the message at `off`. */
export function stamp(u8, off, size, seq) {
  put32(u8, off, seq);
  put32(u8, off + 4, seq ^ K);
  put32(u8, off + size - 8, Math.imul(seq, G));
  put32(u8, off + size - 4, ~seq);
}

/** Everything but the seq word (a TypedQueue carries it in its own field). */
function checkBody(u8, off, size, seq) {
  return (
    get32(u8, off + 4) === (seq ^ K) >>> 0 &&
    get32(u8, off + size - 8) === Math.imul(seq, G) >>> 0 &&
    get32(u8, off + size - 4) === ~seq >>> 0 &&
    u8[off + (size >> 1)] === middleByte(size)
  );
}

function check(u8, off, size, seq) {
  return get32(u8, off) === seq && checkBody(u8, off, size, seq);
}

function mismatch(u8, off, length, size, seq) {
  if (length !== size) return new Error(`message ${seq}: ${length} bytes, expected ${size}`);
  const got = get32(u8, off);
  if (got !== seq)
    return new Error(`expected message ${seq}, got sequence number ${got} (lost, duplicated or reordered)`);
  return new Error(`message ${seq}: corrupt payload (first/last 8 bytes or middle byte differ)`);
}

function verifyBytes(u8, size, seq) {
  if (u8.length !== size || !check(u8, 0, size, seq)) throw mismatch(u8, 0, u8.length, size, seq);
}

// A string message of `size` ASCII characters (so `size` UTF-8 bytes): seq and
// a derived word as 8 hex digits at both ends.
function hex8(value) {
  return (value >>> 0).toString(16).padStart(8, '0');
}

function stringMessage(middle, seq) {
  return hex8(seq) + middle + hex8(Math.imul(seq, G));
}

function verifyString(message, size, seq) {
  if (typeof message !== 'string' || message.length !== size) {
    throw new Error(
      `message ${seq}: expected a string of ${size} characters, got ${typeof message} ${message?.length}`,
    );
  }
  const got = Number.parseInt(message.slice(0, 8), 16);
  if (got !== seq) throw new Error(`expected message ${seq}, got sequence number ${got}`);
  if (message.slice(size - 8) !== hex8(Math.imul(seq, G)) || message.charCodeAt(size >> 1) !== 120) {
    throw new Error(`message ${seq}: corrupt payload`);
  }
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
  if (transportId === 'ring-spsc-zc') {
    const copy = new Uint8Array(size);
    const receive = () => {
      const view = ring.peekSync();
      if (view.length !== size) {
        const error = mismatch(view, 0, view.length, size, seq);
        ring.release();
        throw error;
      }
      copy.set(view);
      ring.release();
      if (!check(copy, 0, size, seq)) throw mismatch(copy, 0, size, size, seq);
      seq = (seq + 1) >>> 0;
    };
    return (count) => {
      receive();
      const t0 = performance.now();
      for (let i = 1; i < count; i++) receive();
      return { t0, t1: performance.now() };
    };
  }
  if (transportId === 'ring-spsc-into') {
    const target = new Uint8Array(size);
    const receive = () => {
      const length = ring.popIntoSync(target);
      if (length !== size || !check(target, 0, size, seq)) throw mismatch(target, 0, length, size, seq);
      seq = (seq + 1) >>> 0;
    };
    return (count) => {
      receive();
      const t0 = performance.now();
      for (let i = 1; i < count; i++) receive();
      return { t0, t1: performance.now() };
    };
  }
  return (count) => {
    verifyBytes(ring.popSync(), size, seq);
    const t0 = performance.now();
    seq = (seq + 1) >>> 0;
    for (let i = 1; i < count; i++) {
      verifyBytes(ring.popSync(), size, seq);
      seq = (seq + 1) >>> 0;
    }
    return { t0, t1: performance.now() };
  };
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
  const receive = () => {
    const record = pop();
    const payload = record?.payload;
    if (record?.seq !== seq) throw new Error(`expected record ${seq}, got seq ${record?.seq}`);
    if (!(payload instanceof Uint8Array) || payload.length !== size - 4 || !checkBody(payload, -4, size, seq)) {
      throw new Error(`record ${seq}: corrupt payload`);
    }
    seq = (seq + 1) >>> 0;
  };
  return (count) => {
    receive();
    const t0 = performance.now();
    for (let i = 1; i < count; i++) receive();
    return { t0, t1: performance.now() };
  };
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
  let seq = 0;
  let run;
  let failure;
  const verify = serialization === 'json' ? verifyString : verifyBytes;
  return {
    arm(count) {
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        run = { count, received: 0, t0: 0, resolve, reject };
      });
    },
    feed(message) {
      if (failure) return;
      const current = run;
      if (!current) {
        failure = new Error('data message outside a run');
        return;
      }
      try {
        if (serialization !== 'json' && !(message instanceof Uint8Array)) {
          throw new Error(`message ${seq}: expected a Uint8Array, got ${typeof message}`);
        }
        verify(message, size, seq);
      } catch (error) {
        failure = error;
        run = undefined;
        current.reject(error);
        return;
      }
      seq = (seq + 1) >>> 0;
      if (current.received++ === 0) current.t0 = performance.now();
      if (current.received === current.count) {
        run = undefined;
        current.resolve({ t0: current.t0, t1: performance.now() });
      }
    },
  };
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
  let seq = 0;
  let run;
  let failure;
  const fail = (error) => {
    failure ??= error;
    if (run) {
      const current = run;
      run = undefined;
      current.reject(failure);
    }
  };
  const onFrame = (buffer, off, length) => {
    const current = run;
    if (!current) return fail(new Error('frame outside a run'));
    if (length !== size || !check(buffer, off, size, seq)) return fail(mismatch(buffer, off, length, size, seq));
    seq = (seq + 1) >>> 0;
    if (current.received++ === 0) current.t0 = performance.now();
    if (current.received === current.count) {
      run = undefined;
      current.resolve({ t0: current.t0, t1: performance.now() });
    }
  };
  const header = Buffer.alloc(4);
  let headerFill = 0;
  let body = null;
  let bodyFill = 0;
  const startBody = (length) => {
    if (length !== size) {
      fail(new Error(`frame header says ${length} bytes, expected ${size}`));
      return false;
    }
    body = Buffer.allocUnsafe(length);
    bodyFill = 0;
    return true;
  };
  const onData = (chunk) => {
    let off = 0;
    const end = chunk.length;
    while (off < end && !failure) {
      if (body) {
        const take = Math.min(end - off, body.length - bodyFill);
        chunk.copy(body, bodyFill, off, off + take);
        off += take;
        bodyFill += take;
        if (bodyFill === body.length) {
          const frame = body;
          body = null;
          onFrame(frame, 0, frame.length);
        }
      } else if (headerFill === 0 && end - off >= 4) {
        const length = chunk.readUInt32LE(off);
        if (end - off - 4 >= length) {
          onFrame(chunk, off + 4, length);
          off += 4 + length;
        } else {
          off += 4;
          if (!startBody(length)) return;
        }
      } else {
        while (headerFill < 4 && off < end) header[headerFill++] = chunk[off++];
        if (headerFill === 4) {
          headerFill = 0;
          if (!startBody(header.readUInt32LE(0))) return;
        }
      }
    }
  };
  server.on('connection', (socket) => {
    socket.on('data', onData);
    socket.on('error', fail);
  });
  return {
    arm(count) {
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        run = { count, received: 0, t0: 0, resolve, reject };
      });
    },
    close: () => server.close(),
  };
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

/** Word indices of the bare futex ping-pong: on separate cache lines, like a ring's head and tail. */
export const PING = 0;
export const PONG = 16;

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

export function futexEcho(futex, words) {
  let last = 0;
  for (;;) {
    let value = Atomics.load(words, PING);
    while (value === last) {
      futex.waitSync(words, PING, last);
      value = Atomics.load(words, PING);
    }
    if (value === -1) return;
    if (value !== last + 1) throw new Error(`futex ping-pong: expected ${last + 1}, got ${value}`);
    last = value;
    Atomics.store(words, PONG, value);
    futex.wake(words, PONG, 1);
  }
}
