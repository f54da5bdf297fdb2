// The transports of `shmkit bench`: the catalog (ids, labels, limits), the two
// ends of each one (a sender and a receiver, usable in a child process or in
// the parent; a ring row's ends follow its ringApi), and the loops that drive
// them: produce/consume for throughput, ping/echo for round-trip latency. The
// memcpy rows' single-thread end is in bench/memcpy.mjs. See docs/benchmarks.md.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { CALL_PRIMITIVES } from './calls.mjs';
import { FANOUT_PRIMITIVES } from './fanout.mjs';
import {
  dropHook,
  makeTemplate,
  stamp,
  stringMessage,
  VerificationError,
  verifyAt,
  verifyBytes,
  verifyPayload,
  verifyString,
} from './message.mjs';
import {
  ndjsonReceiver,
  ndjsonSender,
  OBJECT_PRIMITIVES,
  objectMaker,
  objectQueueOptions,
  objectVerifier,
  objectWorkerReceiver,
  objectWorkerSender,
} from './objects.mjs';

// ------------------------------------------------------------ catalog

/**
 * group: 'shmkit' | 'node' | 'native' | 'memcpy'. kind: how the ends are made. latencyOnly: no
 * payload to carry (no throughput rows). throughputOnly: no latency row (its round trip is
 * another row's). optional: not in the default run, only when --only names it. parentSends: the
 * parent process is the producer / pinger (its child is the other end): process.send and child
 * stdio work that way. inProcess: both ends in the consumer's process (no producer child).
 * native: C programs. ringApi: how a ring row moves bytes ('into': pushSync / popIntoSync,
 * 'pop': pushSync / popSync, 'zero-copy': claimSync + commit / peekSync + release).
 */
export const PRIMITIVES = [
  {
    id: 'ring',
    label: 'ring SPSC',
    group: 'shmkit',
    kind: 'ring',
    api: 'RingBuffer pushSync / popIntoSync, default spin-then-park',
  },
  {
    id: 'ring-park',
    label: 'ring SPSC park-only',
    group: 'shmkit',
    kind: 'ring',
    spinUs: 0,
    api: 'RingBuffer, spinUs 0: park on the futex at once',
  },
  {
    id: 'ring-pop',
    label: 'ring SPSC popSync',
    group: 'shmkit',
    kind: 'ring',
    ringApi: 'pop',
    throughputOnly: true,
    api: 'RingBuffer pushSync / popSync: a fresh buffer per message',
  },
  {
    id: 'ring-zc',
    label: 'ring SPSC zero-copy',
    group: 'shmkit',
    kind: 'ring',
    ringApi: 'zero-copy',
    throughputOnly: true,
    api: 'RingBuffer claimSync(n) + fill + commit() / peekSync() + copy into a reused buffer + release()',
  },
  {
    id: 'ring-spin',
    label: 'ring SPSC spinUs 1000',
    group: 'shmkit',
    kind: 'ring',
    spinUs: 1000,
    optional: true,
    api: 'as ring, both ends opened with spinUs 1000 (diagnostic: what a longer spin does)',
  },
  {
    id: 'ring-mpmc',
    label: 'ring MPMC',
    group: 'shmkit',
    kind: 'ring',
    sides: { producers: 'multi', consumers: 'multi' },
    api: 'multi/multi RingBuffer (lock word), 1 producer + 1 consumer',
  },
  {
    id: 'tq-records',
    label: 'TypedQueue records',
    group: 'shmkit',
    kind: 'tq',
    format: 'record',
    api: "TypedQueue { seq: 'u32', payload: 'bytes:N-4' } pushSync / popIntoSync",
  },
  {
    id: 'tq-v8',
    label: "TypedQueue 'v8'",
    group: 'shmkit',
    kind: 'tq',
    format: 'v8',
    api: "TypedQueue codec 'v8': pushSync({ seq, payload }) / popSync()",
  },
  {
    id: 'sysv',
    label: 'SysV message queue',
    group: 'shmkit',
    kind: 'sysv',
    api: 'SysvMessageQueue (private) sendSync / receiveSync',
  },
  {
    id: 'posix-mq',
    label: 'PosixMessageQueue',
    group: 'shmkit',
    kind: 'pmq',
    api: 'PosixMessageQueue sendSync / receiveSync',
  },
  {
    id: 'fifo',
    label: 'Fifo framed',
    group: 'shmkit',
    kind: 'fifo',
    api: 'Fifo.openWriter/openReader({ framed: true }), a stream per end',
  },
  {
    id: 'semaphore',
    label: 'Semaphore ping-pong',
    group: 'shmkit',
    kind: 'sem',
    latencyOnly: true,
    api: 'two named semaphores: post / waitSync',
  },
  {
    id: 'signals',
    label: 'signals sigqueue',
    group: 'shmkit',
    kind: 'signals',
    latencyOnly: true,
    api: 'signals.send(pid, SIGRTMIN+n, { value }) / signals.listen',
  },
  {
    id: 'futex',
    label: 'futex ping-pong',
    group: 'shmkit',
    kind: 'futex',
    latencyOnly: true,
    api: 'futex.wake / futex.waitSync on a SharedMemory word',
  },
  {
    id: 'ipc-json',
    label: 'process.send json',
    group: 'node',
    kind: 'ipc',
    serialization: 'json',
    parentSends: true,
    format: 'string',
    api: "child.send(string), serialization 'json'",
  },
  {
    id: 'ipc-advanced',
    label: 'process.send advanced',
    group: 'node',
    kind: 'ipc',
    serialization: 'advanced',
    parentSends: true,
    api: "child.send(Uint8Array), serialization 'advanced'",
  },
  {
    id: 'uds',
    label: 'Unix socket',
    group: 'node',
    kind: 'net',
    net: 'unix',
    api: 'net over a Unix socket, 4-byte length-prefixed frames',
  },
  {
    id: 'tcp',
    label: 'TCP 127.0.0.1',
    group: 'node',
    kind: 'net',
    net: 'tcp',
    api: 'net over TCP loopback (setNoDelay), length-prefixed frames',
  },
  {
    id: 'pipe',
    label: 'pipe (child stdio)',
    group: 'node',
    kind: 'stdio',
    parentSends: true,
    api: 'child.stdin / stdout pipes, length-prefixed frames',
  },
  {
    id: 'worker',
    label: 'worker_threads SAB (in-process ceiling)',
    group: 'node',
    kind: 'worker',
    inProcess: true,
    api: 'SharedArrayBuffer slot ring + Atomics.wait/notify between a thread and its worker: NOT two processes',
  },
  {
    id: 'c-ring',
    label: 'C SPSC ring (native floor)',
    group: 'native',
    kind: 'c-ring',
    native: true,
    api: 'native/tools ring_producer | ring_consumer --sampled: the same stamp and sampled check as the JS rows; each run the fastest of three waits: spin 20 µs then park, park at once, spin with a consumer trailing 64 KiB (--trail)',
  },
  {
    id: 'c-pipe',
    label: 'C pipe (native floor)',
    group: 'native',
    kind: 'c-pipe',
    native: true,
    api: 'native/tools/pipe_bench: fork, write | read, every byte checked',
  },
  {
    id: 'memcpy',
    label: 'memcpy (in-process ceiling)',
    group: 'memcpy',
    kind: 'memcpy',
    copy: 'set',
    inProcess: true,
    throughputOnly: true,
    api: 'Uint8Array.set between two hot buffers in one thread, every copy verified: NOT a transport',
  },
  {
    id: 'memcpy-ring',
    label: 'memcpy over a ring-sized area',
    group: 'memcpy',
    kind: 'memcpy',
    copy: 'set',
    slots: 'ring',
    inProcess: true,
    throughputOnly: true,
    api: 'Uint8Array.set rotating through slots as large as a ring data area (ringCapacity bytes), every copy verified',
  },
  {
    id: 'c-memcpy',
    label: 'C memcpy (in-process reference)',
    group: 'memcpy',
    kind: 'c-memcpy',
    native: true,
    throughputOnly: true,
    api: 'native/tools/memcpy_bench: memcpy(3) between two hot buffers in one C thread: NOT a transport',
  },
  {
    id: 'memcpy-slice',
    label: 'slice (allocate + copy)',
    group: 'memcpy',
    kind: 'memcpy',
    copy: 'slice',
    inProcess: true,
    throughputOnly: true,
    api: 'Uint8Array.slice: a fresh buffer per copy, as popSync returns, every copy verified',
  },
  // The object rows (--payload object): bench/objects.mjs.
  ...OBJECT_PRIMITIVES,
  // The call rows (--payload call): bench/calls.mjs.
  ...CALL_PRIMITIVES,
  ...FANOUT_PRIMITIVES,
];

export const byId = new Map(PRIMITIVES.map((p) => [p.id, p]));

function readNumber(path) {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Kernel limits that decide which sizes SysV and POSIX queues can carry. */
export function kernelLimits() {
  return {
    msgmax: readNumber('/proc/sys/kernel/msgmax'),
    msgmnb: readNumber('/proc/sys/kernel/msgmnb'),
    mqMsgsizeMax: readNumber('/proc/sys/fs/mqueue/msgsize_max'),
    mqMsgMax: readNumber('/proc/sys/fs/mqueue/msg_max'),
  };
}

/** Ring data area (bytes) of the latency rows: one message is in flight at a time. */
export const LATENCY_RING_CAPACITY = 1 << 16;

/**
 * Bytes of the data area of every ring and TypedQueue of a throughput case: `chosen` (the
 * --ring-capacity option) if given, else at least 1 MiB and four messages of `size`.
 */
export function ringCapacity(size, chosen) {
  if (chosen) return chosen;
  let capacity = 1 << 20;
  while (capacity < 4 * (size + 64)) capacity *= 2;
  return capacity;
}

// ------------------------------------------------------------ message formats

/** make(seq) → the message to send; fresh: a new buffer every time (for senders that keep it queued). */
export function messageMaker(prim, size, fresh) {
  if (prim.payload === 'object') return objectMaker(prim);
  const template = makeTemplate(size);
  if (prim.format === 'string') {
    const middle = 'x'.repeat(size - 16);
    return (seq) => stringMessage(middle, seq);
  }
  if (prim.format === 'record') {
    const record = { seq: 0, payload: template.subarray(4) };
    return (seq) => {
      stamp(template, 0, size, seq);
      record.seq = seq;
      return record;
    };
  }
  if (prim.format === 'v8') {
    const message = { seq: 0, payload: template };
    return (seq) => {
      stamp(template, 0, size, seq);
      message.seq = seq;
      return message;
    };
  }
  if (fresh) {
    return (seq) => {
      const bytes = Buffer.from(template);
      stamp(bytes, 0, size, seq);
      return bytes;
    };
  }
  return (seq) => {
    stamp(template, 0, size, seq);
    return template;
  };
}

export function messageVerifier(prim, size) {
  if (prim.payload === 'object') return objectVerifier(prim);
  if (prim.format === 'string') return (message, seq) => verifyString(message, size, seq);
  if (prim.format === 'record') return (record, seq) => verifyPayload(record?.seq, record?.payload, -4, size, seq);
  if (prim.format === 'v8') return (message, seq) => verifyPayload(message?.seq, message?.payload, 0, size, seq);
  return (bytes, seq) => verifyBytes(bytes, size, seq);
}

// ------------------------------------------------------------ length-prefixed frames over a byte stream

/** Calls onMessage(view) for every whole frame in the chunks given to push(chunk). */
export function frameParser(onMessage, onError, maxBytes) {
  const header = Buffer.alloc(4);
  let headerFill = 0;
  let body = null;
  let bodyFill = 0;
  let failed = false;
  const startBody = (length) => {
    if (length > maxBytes) {
      failed = true;
      onError(new VerificationError(`frame header says ${length} bytes, more than ${maxBytes}`));
      return false;
    }
    body = Buffer.allocUnsafe(length);
    bodyFill = 0;
    return true;
  };
  return (chunk) => {
    let off = 0;
    const end = chunk.length;
    while (off < end && !failed) {
      if (body) {
        const take = Math.min(end - off, body.length - bodyFill);
        chunk.copy(body, bodyFill, off, off + take);
        off += take;
        bodyFill += take;
        if (bodyFill === body.length) {
          const frame = body;
          body = null;
          onMessage(frame);
        }
      } else if (headerFill === 0 && end - off >= 4) {
        const length = chunk.readUInt32LE(off);
        if (end - off - 4 >= length) {
          onMessage(chunk.subarray(off + 4, off + 4 + length));
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
}

function frame(message) {
  const out = Buffer.allocUnsafe(message.length + 4);
  out.writeUInt32LE(message.length, 0);
  out.set(message, 4);
  return out;
}

/** A sender over a Writable byte stream: one length-prefixed write per message, waiting on 'drain'. */
function streamSender(stream) {
  return {
    fresh: false, // frame() copies
    send(message) {
      if (!stream.write(frame(message))) return once(stream, 'drain');
    },
    close: () => stream.destroy?.(),
  };
}

/** A receiver over a Readable byte stream. */
function streamReceiver(stream, maxBytes) {
  let handler = () => {};
  let onError = () => {};
  const parse = frameParser(
    (m) => handler(m),
    (e) => onError(e),
    maxBytes,
  );
  stream.on('data', parse);
  stream.on('error', (e) => onError(e));
  return {
    listen(onMessage, fail) {
      handler = onMessage;
      onError = fail;
    },
    close: () => stream.destroy?.(),
  };
}

// ------------------------------------------------------------ ring ends, by ringApi

function openRing(shmkit, prim, name) {
  return shmkit.RingBuffer.open(name, prim.spinUs === undefined ? undefined : { spinUs: prim.spinUs });
}

/** recvSync() → the next message (a view valid until the next call); stats() → the ring's counters. */
function ringReceiver(ring, prim, size) {
  const target = new Uint8Array(size);
  const bytes = (length) => (length === size ? target : target.subarray(0, length));
  let recvSync;
  if (prim.ringApi === 'pop') recvSync = () => ring.popSync();
  else if (prim.ringApi === 'zero-copy') {
    recvSync = () => {
      const view = ring.peekSync();
      const length = view.length;
      if (length <= size) target.set(view);
      ring.release();
      // A frame longer than a message fails verification on its length.
      return length <= size ? bytes(length) : new Uint8Array(length);
    };
  } else recvSync = () => bytes(ring.popIntoSync(target));
  return { recvSync, stats: () => ring.stats(), close: () => ring.close() };
}

function ringSender(ring, prim) {
  const send =
    prim.ringApi === 'zero-copy'
      ? (m) => {
          ring.claimSync(m.length).set(m);
          ring.commit();
        }
      : (m) => ring.pushSync(m);
  return { sync: true, send, stats: () => ring.stats(), close: () => ring.close() };
}

// ------------------------------------------------------------ endpoints in a child process (or worker)

/**
 * Opens the receiving end of channel `ch` ('a': producer → consumer or ping → echo; 'b': echo → ping).
 * Returns { recvSync() } (blocking kinds) or { listen(onMessage, onError) }, plus close(),
 * and `info` for the parent (a TCP port).
 */
export async function openReceiver(shmkit, prim, cfg, ch) {
  const res = cfg.resources?.[ch];
  const size = cfg.size;
  switch (prim.kind) {
    case 'ring':
      return ringReceiver(openRing(shmkit, prim, res), prim, size);
    case 'tq': {
      const queue = shmkit.TypedQueue.open(res, tqOptions(prim, size));
      if (prim.format === 'record' && typeof queue.popIntoSync === 'function') {
        const target = { seq: 0, payload: new Uint8Array(size - 4) };
        return { recvSync: () => queue.popIntoSync(target), stats: () => queue.stats(), close: () => queue.close() };
      }
      return { recvSync: () => queue.popSync(), stats: () => queue.stats(), close: () => queue.close() };
    }
    case 'sysv': {
      const queue = shmkit.SysvMessageQueue.fromId(res);
      return { recvSync: () => queue.receiveSync().data, close: () => queue.close() };
    }
    case 'pmq': {
      const queue = shmkit.PosixMessageQueue.open(res);
      return { recvSync: () => queue.receiveSync().data, close: () => queue.close() };
    }
    case 'fifo': {
      const reader = shmkit.Fifo.openReader(res, { framed: true, maxMessageBytes: Math.max(size, 64) });
      let handler = () => {};
      let onError = () => {};
      reader.on('data', (m) => handler(m));
      reader.on('error', (e) => onError(e));
      return {
        listen(onMessage, fail) {
          handler = onMessage;
          onError = fail;
        },
        close: () => reader.destroy(),
      };
    }
    case 'net': {
      if (prim.wire === 'ndjson') return ndjsonReceiver(res);
      const server = net.createServer();
      const ready = { stream: null };
      let handler = () => {};
      let onError = () => {};
      server.on('connection', (socket) => {
        socket.setNoDelay?.(true);
        ready.stream = socket;
        const receiver = streamReceiver(socket, size);
        receiver.listen(
          (m) => handler(m),
          (e) => onError(e),
        );
      });
      if (prim.net === 'unix') server.listen(res);
      else server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return {
        info: prim.net === 'tcp' ? { port: server.address().port } : undefined,
        listen(onMessage, fail) {
          handler = onMessage;
          onError = fail;
        },
        close: () => {
          ready.stream?.destroy();
          server.close();
        },
      };
    }
    case 'ipc': {
      let handler = () => {};
      process.on('message', (message) => {
        if (message === null || typeof message !== 'object' || typeof message.ctl !== 'string') handler(message);
      });
      return {
        listen(onMessage) {
          handler = onMessage;
        },
        close() {},
      };
    }
    case 'stdio':
      return streamReceiver(process.stdin, size);
    case 'object-worker':
      return objectWorkerReceiver(prim, ch);
    default:
      throw new Error(`no receiver for ${prim.id}`);
  }
}

/** Opens the sending end of channel `ch`. `peer` carries what the receiver reported (a TCP port). */
export async function openSender(shmkit, prim, cfg, ch, peer) {
  const res = cfg.resources?.[ch];
  switch (prim.kind) {
    case 'ring':
      return ringSender(openRing(shmkit, prim, res), prim);
    case 'tq': {
      const queue = shmkit.TypedQueue.open(res, tqOptions(prim, cfg.size));
      return { sync: true, send: (m) => queue.pushSync(m), stats: () => queue.stats(), close: () => queue.close() };
    }
    case 'sysv': {
      const queue = shmkit.SysvMessageQueue.fromId(res);
      return { sync: true, send: (m) => queue.sendSync(m), close: () => queue.close() };
    }
    case 'pmq': {
      const queue = shmkit.PosixMessageQueue.open(res);
      return { sync: true, send: (m) => queue.sendSync(m), close: () => queue.close() };
    }
    case 'fifo': {
      const writer = await shmkit.Fifo.openWriter(res, { framed: true, timeoutMs: 10_000 });
      return {
        fresh: true,
        send(m) {
          if (!writer.write(m)) return once(writer, 'drain');
        },
        close: () => writer.destroy(),
      };
    }
    case 'net': {
      if (prim.wire === 'ndjson') return ndjsonSender(res);
      const socket = prim.net === 'unix' ? net.connect(res) : net.connect(peer.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.setNoDelay(true);
      return streamSender(socket);
    }
    case 'ipc':
      return {
        send(m) {
          process.send(m);
        },
        close() {},
      };
    case 'stdio':
      return streamSender(process.stdout);
    case 'object-worker':
      return objectWorkerSender();
    default:
      throw new Error(`no sender for ${prim.id}`);
  }
}

export function tqOptions(prim, size) {
  if (prim.payload === 'object') return objectQueueOptions(prim);
  return prim.format === 'record' ? { schema: tqSchema(size) } : { codec: 'v8' };
}

export function tqSchema(size) {
  return { seq: 'u32', payload: `bytes:${size - 4}` };
}

// ------------------------------------------------------------ the loops

/** produce(count): sends messages seq, seq+1, ... (awaiting backpressure when the sender asks). */
export function producer(prim, size, sender) {
  const make = messageMaker(prim, size, sender.fresh !== false && !sender.sync && prim.kind !== 'ipc');
  const drop = dropHook(prim.id);
  let seq = 0;
  return async (count) => {
    for (let i = 0; i < count; i++) {
      if (drop(seq)) seq = (seq + 1) >>> 0;
      const pending = sender.send(make(seq));
      seq = (seq + 1) >>> 0;
      if (pending) await pending;
    }
  };
}

/** A synchronous produce for blocking senders (no await per message). */
export function producerSync(prim, size, sender) {
  const make = messageMaker(prim, size, false);
  const drop = dropHook(prim.id);
  let seq = 0;
  return (count) => {
    for (let i = 0; i < count; i++) {
      if (drop(seq)) seq = (seq + 1) >>> 0;
      sender.send(make(seq));
      seq = (seq + 1) >>> 0;
    }
  };
}

/**
 * The receiving loop: consume(count) → { t0, t1 } (ms, performance.now(), first and last message),
 * verifying every message. Blocking receivers return synchronously, listeners a Promise.
 */
export function consumer(prim, size, receiver) {
  const verify = messageVerifier(prim, size);
  let seq = 0;
  if (receiver.recvSync) {
    return (count) => {
      verify(receiver.recvSync(), seq);
      seq = (seq + 1) >>> 0;
      const t0 = performance.now();
      for (let i = 1; i < count; i++) {
        verify(receiver.recvSync(), seq);
        seq = (seq + 1) >>> 0;
      }
      return { t0, t1: performance.now() };
    };
  }
  const { feed, fail, arm } = armedReceiver(verify);
  receiver.listen(feed, fail);
  return arm;
}

/**
 * The receiving loop of a listener (messages arrive as events): feed(message) verifies each
 * with verify(message, seq); arm(count) → Promise<{ t0, t1 }> (ms, performance.now(), first
 * and last message) once `count` more have arrived; fail(error) rejects the current run and
 * every later one. outsideRun(seq) makes the error for a message that arrives unarmed.
 */
export function armedReceiver(
  verify,
  outsideRun = (seq) => new VerificationError(`message ${seq} arrived outside a run (extra message)`),
) {
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
  const feed = (message) => {
    const current = run;
    if (!current) return fail(outsideRun(seq));
    try {
      verify(message, seq);
    } catch (error) {
      return fail(error);
    }
    seq = (seq + 1) >>> 0;
    if (current.received++ === 0) current.t0 = performance.now();
    if (current.received === current.count) {
      run = undefined;
      current.resolve({ t0: current.t0, t1: performance.now() });
    }
  };
  const arm = (count) => {
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => {
      run = { count, received: 0, t0: 0, resolve, reject };
    });
  };
  return { feed, fail, arm };
}

/** A receive-one function: sync (blocking kinds) or returning a Promise. */
function receiveOne(receiver) {
  if (receiver.recvSync) return { sync: true, next: () => receiver.recvSync() };
  const queue = [];
  let waiter;
  let failure;
  receiver.listen(
    (message) => {
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w.resolve(message);
      } else queue.push(message);
    },
    (error) => {
      failure ??= error;
      if (waiter) waiter.reject(error);
    },
  );
  return {
    sync: false,
    next() {
      if (queue.length > 0) return queue.shift();
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
  };
}

/**
 * Round trips at `size`: send message i on `sender`, wait for it back on `receiver`, verify
 * (SHMKIT_BENCH_DROP sends message 3 in place of 2: the check must fail).
 * Returns Float64Array of nanoseconds per round trip for rounds [warm, warm + rounds). When
 * both ends are rings (they have stats()), it also carries `parked`: per round trip, which
 * side's wait entered the futex park path (PARKED_PINGER: this side, waiting for the reply;
 * PARKED_ECHO: the echo, waiting for the message), 0 when the round trip was served while
 * spinning. The counters are read after each round trip, outside its timing.
 */
export async function pingLoop(prim, size, sender, receiver, rounds, warm, maxMs = Number.POSITIVE_INFINITY) {
  const make = messageMaker(prim, size, sender.fresh !== false && !sender.sync && prim.kind !== 'ipc');
  const verify = messageVerifier(prim, size);
  const rx = receiveOne(receiver);
  const drop = dropHook(prim.id);
  const samples = new Float64Array(rounds);
  const parks = receiver.stats && sender.stats ? parkCounter(receiver, sender) : undefined;
  const parked = parks ? new Uint8Array(rounds) : undefined;
  const start = performance.now();
  let n = 0;
  for (let i = 0; i < warm + rounds; i++) {
    const t0 = process.hrtime.bigint();
    const pending = sender.send(make(drop(i) ? i + 1 : i));
    if (pending) await pending;
    let reply = rx.next();
    if (!rx.sync) reply = await reply;
    const t1 = process.hrtime.bigint();
    verify(reply, i);
    const how = parks?.();
    if (i >= warm) {
      if (parked) parked[n] = how;
      samples[n++] = Number(t1 - t0);
    }
    if (n >= 100 && performance.now() - start > maxMs) break; // a slow transport: enough samples
  }
  const out = samples.subarray(0, n);
  if (parked) out.parked = parked.subarray(0, n);
  return out;
}

/** Bits of pingLoop's `parked`: which side's wait parked during a round trip. */
export const PARKED_PINGER = 1;
export const PARKED_ECHO = 2;

/** () → the PARKED_* bits of the consumer park counters that moved since the last call. */
function parkCounter(receiver, sender) {
  let mine = receiver.stats().consumerParks;
  let echo = sender.stats().consumerParks;
  return () => {
    const nowMine = receiver.stats().consumerParks;
    const nowEcho = sender.stats().consumerParks;
    const bits = (nowMine !== mine ? PARKED_PINGER : 0) | (nowEcho !== echo ? PARKED_ECHO : 0);
    mine = nowMine;
    echo = nowEcho;
    return bits;
  };
}

/** The echo side: sends back every message it receives, `total` of them (sync kinds) or until closed. */
/** Word indices of the futex ping-pong: on separate cache lines, like a ring's head and tail. */
export const PING = 0;
export const PONG = 16;

/**
 * The echo end of a futex ping-pong: copies each new value of words[PING] to words[PONG] and
 * wakes the pinger; returns when PING becomes -1. checkOrder: throw a VerificationError unless
 * each value is the one after the last.
 */
export function futexEcho(futex, words, { checkOrder = true } = {}) {
  let last = 0;
  for (;;) {
    let value = Atomics.load(words, PING);
    while (value === last) {
      futex.waitSync(words, PING, last);
      value = Atomics.load(words, PING);
    }
    if (value === -1) return;
    if (checkOrder && value !== last + 1) {
      throw new VerificationError(`expected message ${last}, got sequence number ${value - 1}`);
    }
    last = value;
    Atomics.store(words, PONG, value);
    futex.wake(words, PONG, 1);
  }
}

export async function echoLoop(receiver, sender, total) {
  const rx = receiveOne(receiver);
  for (let i = 0; i < total; i++) {
    let message = rx.next();
    if (!rx.sync) message = await message;
    const pending = sender.send(message);
    if (pending) await pending;
  }
}

export { verifyAt };
