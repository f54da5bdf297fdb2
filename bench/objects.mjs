// The object rows of `shmkit bench` (--payload object): a ~100-byte JS object
// { id, method, ts, symbol, qty, side, tags } per message, through process.send
// (json, advanced), a Unix socket with newline-delimited JSON, worker_threads
// postMessage, and TypedQueue with each codec and with a records schema. This
// file holds their catalog, the object itself (made from its id, so the
// receiver can check every field of every object), the per-row adapters, and
// the ends that the byte rows do not already have (NDJSON over a socket, a
// worker thread). The harness runs them through the same cases as the byte
// rows (bench/harness.mjs); see docs/benchmarks.md, "Objects".
import { once } from 'node:events';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { VerificationError } from './message.mjs';

// ------------------------------------------------------------ the object

const METHODS = ['order.place', 'order.cancel', 'order.amend', 'quote.request'];
const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'BRK.B', 'TSLA'];
const TAGS = ['algo', 'day', 'ioc', 'retail', 'hedge', 'dark', 'gtc'];
const SIDES = ['buy', 'sell'];
/** ts of object 0, ms since the epoch; object id is TS0 + id / 4 (a fraction, so ts is a double). */
const TS0 = 1_764_633_600_000;

function tagCount(id) {
  return 1 + (id % 3);
}

function tagAt(id, i) {
  return TAGS[(id + 3 * i) % TAGS.length];
}

/** Object `id` (a u32): a fresh object every call, as a program sends a fresh one per message. */
export function makeObject(id) {
  const tags = [];
  for (let i = 0, n = tagCount(id); i < n; i++) tags.push(tagAt(id, i));
  return {
    id,
    method: METHODS[id % METHODS.length],
    ts: TS0 + id * 0.25,
    symbol: SYMBOLS[id % SYMBOLS.length],
    qty: ((id * 37) % 1000) + 1,
    side: SIDES[id & 1],
    tags,
  };
}

/** The nominal size of one object: the mean length of its JSON text (bytes, ASCII) over ids 0..999. */
export const OBJECT_SIZE = (() => {
  let total = 0;
  for (let id = 0; id < 1000; id++) total += JSON.stringify(makeObject(id)).length;
  return Math.round(total / 1000);
})();

/** What is wrong with `o` as object `id` (its id already checked), or undefined. */
function fieldError(o, id) {
  if (o.method !== METHODS[id % METHODS.length]) return `method is ${JSON.stringify(o.method)}`;
  if (o.ts !== TS0 + id * 0.25) return `ts is ${o.ts}, expected ${TS0 + id * 0.25}`;
  if (o.symbol !== SYMBOLS[id % SYMBOLS.length]) return `symbol is ${JSON.stringify(o.symbol)}`;
  if (o.qty !== ((id * 37) % 1000) + 1) return `qty is ${o.qty}`;
  if (o.side !== SIDES[id & 1]) return `side is ${JSON.stringify(o.side)}`;
  const tags = o.tags;
  if (!Array.isArray(tags) || tags.length !== tagCount(id)) return `tags is ${JSON.stringify(tags)}`;
  for (let i = 0; i < tags.length; i++) {
    if (tags[i] !== tagAt(id, i)) return `tags[${i}] is ${JSON.stringify(tags[i])}`;
  }
  return undefined;
}

/** Throws a VerificationError unless `o` is object `id`, every field of it. */
export function verifyObject(o, id) {
  if (o === null || typeof o !== 'object') {
    throw new VerificationError(`object ${id}: got ${o === null ? 'null' : typeof o}, not an object`);
  }
  if (o.id !== id) throw new VerificationError(`expected message ${id}, got sequence number ${o.id}`);
  const error = fieldError(o, id);
  if (error) throw new VerificationError(`object ${id}: ${error}`);
}

// ------------------------------------------------------------ the records row

/**
 * The records row's schema: the same fields, strings as fixed-width UTF-8 fields, and the tags
 * (1 to 3 short words) joined with ',' into one string field. The sender turns each object into
 * such a record (tags.join(',')) and the receiver turns each record back into the object
 * (tags.split(',')): both count in the row's time, as they would in a program.
 */
export const OBJECT_SCHEMA = {
  id: 'u32',
  method: 'string:16',
  ts: 'f64',
  symbol: 'string:8',
  qty: 'u32',
  side: 'string:4',
  tags: 'string:32',
};

function toRecord(o) {
  return { id: o.id, method: o.method, ts: o.ts, symbol: o.symbol, qty: o.qty, side: o.side, tags: o.tags.join(',') };
}

function fromRecord(record) {
  if (record !== null && typeof record === 'object' && typeof record.tags === 'string') {
    record.tags = record.tags.split(',');
  }
  return record;
}

// ------------------------------------------------------------ catalog

const object = { payload: 'object', format: 'object' };

/**
 * The object rows, in the shape of bench/transports.mjs's catalog (kind decides the ends; the
 * 'ipc' and 'tq' kinds reuse the byte rows' ends). `obj-ipc-json` is the baseline of every
 * object ratio.
 */
export const OBJECT_PRIMITIVES = [
  {
    id: 'obj-ipc-json',
    label: 'process.send json',
    group: 'node',
    kind: 'ipc',
    serialization: 'json',
    parentSends: true,
    ...object,
    api: "child.send(object), serialization 'json' (the objects' baseline)",
  },
  {
    id: 'obj-ipc-advanced',
    label: 'process.send advanced',
    group: 'node',
    kind: 'ipc',
    serialization: 'advanced',
    parentSends: true,
    ...object,
    api: "child.send(object), serialization 'advanced' (structured clone)",
  },
  {
    id: 'obj-uds',
    label: 'Unix socket NDJSON',
    group: 'node',
    kind: 'net',
    net: 'unix',
    wire: 'ndjson',
    ...object,
    api: "net over a Unix socket: write(JSON.stringify(o) + '\\n') / split on newlines + JSON.parse",
  },
  {
    id: 'obj-worker',
    label: 'worker_threads postMessage (in-process)',
    group: 'node',
    kind: 'object-worker',
    inProcess: true,
    ...object,
    api: 'postMessage(object) between a worker thread and its parent thread: NOT two processes',
  },
  {
    id: 'obj-tq-json',
    label: "TypedQueue 'json'",
    group: 'shmkit',
    kind: 'tq',
    codec: 'json',
    ...object,
    api: "TypedQueue codec 'json': pushSync(object) / popSync()",
  },
  {
    id: 'obj-tq-v8',
    label: "TypedQueue 'v8'",
    group: 'shmkit',
    kind: 'tq',
    codec: 'v8',
    ...object,
    api: "TypedQueue codec 'v8': pushSync(object) / popSync()",
  },
  {
    id: 'obj-tq-msgpack',
    label: "TypedQueue 'msgpack'",
    group: 'shmkit',
    kind: 'tq',
    codec: 'msgpack',
    ...object,
    api: "TypedQueue codec 'msgpack' (msgpackr): pushSync(object) / popSync()",
  },
  {
    id: 'obj-tq-records',
    label: 'TypedQueue records',
    group: 'shmkit',
    kind: 'tq',
    records: true,
    ...object,
    api: "TypedQueue schema { id: 'u32', method: 'string:16', ts: 'f64', ..., tags: 'string:32' (joined ',') } pushSync / popSync",
  },
];

/** make(id) → what the row's sender sends for object `id`. */
export function objectMaker(prim) {
  return prim.records ? (id) => toRecord(makeObject(id)) : makeObject;
}

/** verify(message, id): throws unless the message is object `id` (a records row first turns it back into one). */
export function objectVerifier(prim) {
  return prim.records ? (record, id) => verifyObject(fromRecord(record), id) : verifyObject;
}

// ------------------------------------------------------------ TypedQueue options

/** TypedQueue.open options of a queue row. */
export function objectQueueOptions(prim) {
  return prim.records ? { schema: OBJECT_SCHEMA } : { codec: prim.codec };
}

/** Creates a queue row's TypedQueue with a data area of about `capacityBytes` (records: as many as fit). */
export function createObjectQueue(shmkit, prim, name, capacityBytes) {
  if (!prim.records) return shmkit.TypedQueue.create(name, { codec: prim.codec, capacityBytes });
  // A record is 80 bytes, 88 with its frame header: capacityBytes / 96 records fill the same data area.
  return shmkit.TypedQueue.create(name, { schema: OBJECT_SCHEMA, capacity: Math.floor(capacityBytes / 96) });
}

// ------------------------------------------------------------ NDJSON over a Unix socket

/** A receiver of newline-delimited JSON on a Unix socket server at `path`. */
export async function ndjsonReceiver(path) {
  const server = net.createServer();
  let socket;
  let handler = () => {};
  let onError = () => {};
  server.on('connection', (s) => {
    socket = s;
    s.setEncoding('utf8');
    let rest = '';
    s.on('data', (chunk) => {
      const text = rest + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        let value;
        try {
          value = JSON.parse(text.slice(start, nl));
        } catch (error) {
          onError(new VerificationError(`a line that is not JSON: ${error.message}`));
          s.destroy();
          return;
        }
        start = nl + 1;
        handler(value);
      }
      rest = text.slice(start);
    });
    s.on('error', (e) => onError(e));
  });
  server.listen(path);
  await once(server, 'listening');
  return {
    listen(onMessage, fail) {
      handler = onMessage;
      onError = fail;
    },
    close() {
      socket?.destroy();
      server.close();
    },
  };
}

/** A sender of newline-delimited JSON to the Unix socket at `path`, waiting on 'drain'. */
export async function ndjsonSender(path) {
  const socket = net.connect(path);
  await once(socket, 'connect');
  return {
    send(o) {
      if (!socket.write(`${JSON.stringify(o)}\n`)) return once(socket, 'drain');
    },
    close: () => socket.destroy(),
  };
}

// ------------------------------------------------------------ worker_threads postMessage

/** Objects a producer thread may post before the receiving thread acknowledges them (flow control). */
export const WORKER_WINDOW = 1024;
/** The receiving thread acknowledges every WORKER_CREDIT objects. */
export const WORKER_CREDIT = 256;

let echoWorker;

/**
 * The receiving end in the parent thread: a worker thread (bench/object-worker.mjs) that
 * produces objects on go(count) (throughput, channel 'a') or echoes them back (the round trips'
 * channel 'b'; openObjectWorkerSender then posts to it).
 */
export function objectWorkerReceiver(prim, ch) {
  const role = ch === 'a' ? 'producer' : 'echo';
  const worker = new Worker(new URL('./object-worker.mjs', import.meta.url), {
    workerData: { role, primitive: prim.id },
  });
  worker.unref();
  if (role === 'echo') echoWorker = worker;
  let handler = () => {};
  let onError = () => {};
  let received = 0;
  worker.on('message', (message) => {
    handler(message);
    if (role === 'producer' && ++received % WORKER_CREDIT === 0)
      worker.postMessage({ ctl: 'credit', n: WORKER_CREDIT });
  });
  worker.on('error', (e) => onError(e));
  return {
    listen(onMessage, fail) {
      handler = onMessage;
      onError = fail;
    },
    go: (count) => worker.postMessage({ ctl: 'go', count }),
    close: () => worker.terminate(),
  };
}

/** The pinger's sender: posts to the echo thread its receiver started. */
export function objectWorkerSender() {
  if (!echoWorker) throw new Error('the echo worker is not started (open the receiver first)');
  const worker = echoWorker;
  return { send: (o) => worker.postMessage(o), close() {} };
}
