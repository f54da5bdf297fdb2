// The fan-out rows of `shmkit bench` (--payload fanout): one publisher (this process) sends
// every message to FANOUT_SUBSCRIBERS subscriber processes (bench/fanout-sub.mjs), each of
// which must receive all of them, in order, and checks each one (the byte rows' stamp,
// bench/message.mjs). Rows doing the same work in the same run: process.send to each child
// (json strings, the baseline), one Unix socket per subscriber (length-prefixed frames), and a
// shmkit Topic (codec 'raw') under 'block' (every subscriber gets every message) and
// 'drop-oldest' (the publisher never waits; a subscriber it laps skips messages, counted
// exactly). Throughput is the aggregate of messages delivered per second (all subscribers);
// the publisher's CPU time per published message is measured too, and 'drop-oldest' is also
// run with one subscriber, so that its cost per message with four can be compared to one.
// See docs/benchmarks.md, "Fan-out".
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as shmkit from 'shmkit';
import { forkChild } from './fork.mjs';
import { spread } from './format.mjs';
import { dropHook, failure, makeTemplate, stamp, stringMessage } from './message.mjs';
import { measureSteady } from './steady.mjs';

const SUB = join(dirname(fileURLToPath(import.meta.url)), 'fanout-sub.mjs');

/** Subscribers of every fan-out row but the one-subscriber comparison. */
export const FANOUT_SUBSCRIBERS = 4;
/** The baseline of the fan-out rows: every fan-out ratio is to it. */
export const FANOUT_BASELINE = 'fan-ipc';
/** The sizes the fan-out rows run at (the issue's: 64 B and 64 KiB), bytes. */
export const FANOUT_SIZES = [64, 65536];
/** Messages per run at least (steady mode), and exactly (--quick without --count). */
export const FANOUT_COMMON = 20_000;

const fanout = { payload: 'fanout', format: 'fanout' };

/** The fan-out rows, in the shape of bench/transports.mjs's catalog. */
export const FANOUT_PRIMITIVES = [
  {
    id: 'fan-ipc',
    label: 'process.send × 4',
    group: 'node',
    kind: 'fan-ipc',
    ...fanout,
    api: "child.send(string) to each of 4 children, serialization 'json' (the fan-out baseline)",
  },
  {
    id: 'fan-uds',
    label: 'Unix sockets × 4',
    group: 'node',
    kind: 'fan-uds',
    ...fanout,
    api: 'net: one Unix socket per subscriber, each message written to each (u32 length + bytes)',
  },
  {
    id: 'fan-topic',
    label: "Topic 'block' → 4",
    group: 'shmkit',
    kind: 'fan-topic',
    policy: 'block',
    ...fanout,
    api: "Topic.create(name, { codec: 'raw', slowSubscriber: 'block' }).publishSync(bytes); 4 × Topic.subscribe … peek()/release() (in place), next() to wait",
  },
  {
    id: 'fan-topic-drop',
    label: "Topic 'drop-oldest' → 4",
    group: 'shmkit',
    kind: 'fan-topic',
    policy: 'drop-oldest',
    ...fanout,
    api: "as fan-topic, slowSubscriber: 'drop-oldest' (the publisher never waits; lapped subscribers skip, counted); tryNext() copies (a lapped view may be torn)",
  },
  {
    id: 'fan-topic-drop-1',
    label: "Topic 'drop-oldest' → 1",
    group: 'shmkit',
    kind: 'fan-topic',
    policy: 'drop-oldest',
    subscribers: 1,
    ...fanout,
    api: "as fan-topic-drop with one subscriber: the publisher's CPU per message with 4 against 1",
  },
];

/**
 * Messages a socket or process.send subscriber may be behind before the publisher waits for
 * its acknowledgement (4 MiB worth, 64 to 4096): the bounded window a real fan-out over them
 * needs, or the publisher's memory grows with the slowest subscriber.
 */
export function fanoutWindow(size) {
  return Math.max(64, Math.min(4096, Math.floor((4 << 20) / size)));
}

/** Bytes of a topic's log for messages of `size` bytes: a power of two, at least 1 MiB and 64 messages. */
export function topicCapacity(size) {
  let bytes = 1 << 20;
  while (bytes < 64 * (size + 8)) bytes *= 2;
  return bytes;
}

// ------------------------------------------------------------ the publisher's ends

/** The process.send publisher: send(seq) to every child, flow-controlled by their acks. */
function ipcEnds(subs, size) {
  const middle = 'x'.repeat(size - 16);
  return {
    publish(seq) {
      const message = stringMessage(middle, seq);
      for (const sub of subs) sub.send(message);
    },
    close() {},
  };
}

/** The Unix socket publisher: one server, one connection per subscriber. */
async function udsEnds(path) {
  const sockets = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {}); // a subscriber that dies fails the case through its child
    sockets.push(socket);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return {
    server,
    sockets,
    frames(size) {
      const frame = Buffer.alloc(4 + size);
      frame.writeUInt32LE(size, 0);
      frame.set(makeTemplate(size), 4);
      return frame;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/**
 * Sets up the row's subscribers and publisher; returns { subs, publish(seq), close() }.
 * Subscribers of the socket and process.send rows acknowledge every window/4 messages.
 */
async function setUp(res, prim, size) {
  const n = prim.subscribers ?? FANOUT_SUBSCRIBERS;
  const window = fanoutWindow(size);
  const flow = prim.kind !== 'fan-topic';
  const acked = new Array(n).fill(0);
  let onAck = () => {};
  const cfg = { role: 'fanout-sub', kind: prim.kind, size, policy: prim.policy, ackEvery: flow ? window / 4 : 0 };
  const subs = [];
  const fork = (index, extra) => {
    const sub = forkChild(
      SUB,
      res.children,
      { ...cfg, ...extra, index },
      {
        onData: (m) => {
          if (m && typeof m.ack === 'number') {
            acked[index] = m.ack;
            onAck();
          }
        },
      },
    );
    subs.push(sub);
    return sub;
  };
  let ends;
  let topic;
  if (prim.kind === 'fan-ipc') {
    for (let i = 0; i < n; i++) fork(i, {});
    ends = ipcEnds(subs, size);
  } else if (prim.kind === 'fan-uds') {
    const path = res.path('.sock');
    const uds = await udsEnds(path);
    res.track(() => uds.close());
    for (let i = 0; i < n; i++) fork(i, { path });
    const frame = uds.frames(size);
    let corked = false;
    ends = {
      publish(seq) {
        stamp(frame, 4, size, seq);
        // The writes of one burst go out together (as uds-rpc corks a tick's writes).
        if (!corked) for (const socket of uds.sockets) socket.cork();
        corked = true;
        const copy = Buffer.from(frame); // the socket keeps it until written: the next stamp must not change it
        for (const socket of uds.sockets) socket.write(copy);
      },
      flush() {
        if (corked) for (const socket of uds.sockets) socket.uncork();
        corked = false;
      },
      close: () => uds.close(),
    };
  } else {
    const name = res.name();
    res.track(() => shmkit.Topic.unlink(name));
    topic = shmkit.Topic.create(name, {
      codec: 'raw',
      capacityBytes: topicCapacity(size),
      maxSubscribers: n,
      slowSubscriber: prim.policy,
    });
    res.track(() => topic.close());
    for (let i = 0; i < n; i++) fork(i, { name });
    const bytes = makeTemplate(size);
    ends = {
      publish(seq) {
        stamp(bytes, 0, size, seq);
        topic.publishSync(bytes);
      },
      close: () => topic.close(),
    };
  }
  await Promise.all(subs.map((sub) => sub.expect('ready', 30_000)));
  const guard = Promise.race(subs.map((sub) => sub.dead));
  guard.catch(() => {});
  /** Waits while the slowest subscriber is a window behind `seq` (socket and process.send rows). */
  const room = (seq) => {
    if (!flow || seq - Math.min(...acked) < window) return undefined;
    return new Promise((resolve) => {
      onAck = () => {
        if (seq - Math.min(...acked) < window) {
          onAck = () => {};
          resolve();
        }
      };
    });
  };
  return { subs, ends, room, guard, n };
}

/**
 * One fan-out row at `size`: a warm-up (--quick: one run of a tenth of the count; else windows
 * until the rate is stable), then options.repeat runs sized by time. Row: runs, count,
 * msgsPerSec (aggregate delivered per second, spread over the runs), publishedPerSec,
 * publisherCpuUs (µs of the publisher's CPU per published message), skipped (drop-oldest).
 */
export async function fanoutCase(res, prim, size, options, progress = {}) {
  const row = {
    primitive: prim.id,
    label: prim.label,
    group: prim.group,
    size,
    subscribers: prim.subscribers ?? FANOUT_SUBSCRIBERS,
    placement: 'unpinned',
    status: 'ok',
    runs: [],
  };
  let setup;
  try {
    setup = await setUp(res, prim, size);
    const { subs, ends, room, guard } = setup;
    const drop = dropHook(prim.id);
    let seq = 0;
    const runOnce = async (count) => {
      const end = seq + count;
      for (const sub of subs) sub.send({ ctl: 'run', end });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (; seq < end; seq++) {
        const wait = room(seq);
        if (wait) {
          ends.flush?.();
          await Promise.race([wait, guard]);
        }
        if (!drop(seq)) ends.publish(seq);
      }
      ends.flush?.();
      const reports = await Promise.race([Promise.all(subs.map((sub) => sub.expect('done', 120_000))), guard]);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const delivered = reports.reduce((sum, r) => sum + r.delivered, 0);
      const skipped = reports.reduce((sum, r) => sum + r.skipped, 0);
      return { count, seconds, delivered, skipped, cpuUs: (cpu.user + cpu.system) / count };
    };
    const step = (text) => progress.step?.(`${prim.label} ${size} B ${text}`);
    const measured = await measureSteady(runOnce, { common: FANOUT_COMMON, options, step });
    row.warmup = { messages: measured.warmup.count, seconds: measured.warmup.seconds };
    if (measured.stable !== undefined) row.stable = measured.stable;
    row.count = measured.count;
    if (measured.reduced) row.reduced = true;
    for (const r of measured.runs) row.runs.push({ ...r, msgsPerSec: r.delivered / r.seconds });
    row.msgsPerSec = spread(row.runs.map((r) => r.msgsPerSec));
    row.publishedPerSec = spread(row.runs.map((r) => r.count / r.seconds));
    row.publisherCpuUs = spread(row.runs.map((r) => r.cpuUs));
    row.skipped = row.runs.reduce((sum, r) => sum + r.skipped, 0);
  } catch (error) {
    Object.assign(row, failure(error));
  } finally {
    if (setup) {
      for (const sub of setup.subs) sub.send({ ctl: 'stop' });
      setup.ends.close();
      await Promise.all(setup.subs.map((sub) => sub.stop()));
    }
  }
  return row;
}

/**
 * The fan-out rows' ratios at each size: ratio = delivered/s ÷ FANOUT_BASELINE's, ofUds =
 * ÷ fan-uds's (the targets name both); cpuOfOne (fan-topic-drop only) = its publisher
 * CPU per message ÷ fan-topic-drop-1's (4 subscribers against 1; lower is better).
 */
export function addFanoutRatios(rows) {
  const at = (id, size) => rows.find((r) => r.primitive === id && r.size === size && r.msgsPerSec);
  for (const row of rows) {
    if (!row.msgsPerSec) continue;
    const base = at(FANOUT_BASELINE, row.size);
    if (base) row.ratio = row.msgsPerSec.median / base.msgsPerSec.median;
    const uds = at('fan-uds', row.size);
    if (uds) row.ofUds = row.msgsPerSec.median / uds.msgsPerSec.median;
    const one = row.primitive === 'fan-topic-drop' ? at('fan-topic-drop-1', row.size) : undefined;
    if (one) row.cpuOfOne = row.publisherCpuUs.median / one.publisherCpuUs.median;
  }
}
