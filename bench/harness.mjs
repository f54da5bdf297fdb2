// `shmkit bench`: runs every transport of bench/transports.mjs between two
// processes, throughput by size and round-trip latency at 64 B, the memcpy
// ceilings, and on request the pinned wake-up rows (--wakeup) and the idle
// cost of a parked consumer (--idle); returns the results (bench/report.mjs
// renders them). --crowd adds the wake latency of one async futex wait among
// many pending (bench/crowd.mjs). Used by lib/tooling/cli/bench.ts; see docs/benchmarks.md.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as shmkit from 'shmkit';
import { addCallRatios, CALL_BASELINE, CALL_WINDOW, callLatencyCase, callThroughputCase } from './calls.mjs';
import { crowdCase, DEFAULT_CROWD } from './crowd.mjs';
import { addFanoutRatios, FANOUT_BASELINE, FANOUT_SIZES, FANOUT_SUBSCRIBERS, fanoutCase } from './fanout.mjs';
import { forkChild } from './fork.mjs';
import { median, sizeLabel, spread } from './format.mjs';
import { percentilesUs } from './histogram.mjs';
import { idleCase } from './idle.mjs';
import { describeMachine } from './machine.mjs';
import { failure, MIN_SIZE } from './message.mjs';
import { ensureTools } from './native-tools.mjs';
import { natsCase } from './nats.mjs';
import { createObjectQueue, OBJECT_SIZE } from './objects.mjs';
import { bothEnds, pinPlacement, pinSelf, TASKSET, UNPINNED, wakeupPlacements } from './placement.mjs';
import { serviceLivenessCase } from './service-liveness.mjs';
import { runCount, STEADY, warmUp } from './steady.mjs';
import {
  byId,
  frameParser,
  kernelLimits,
  LATENCY_RING_CAPACITY,
  PRIMITIVES,
  pingLoop,
  producer,
  ringCapacity,
  tqSchema,
} from './transports.mjs';
import { parkSplit } from './waits.mjs';

export { DEFAULT_CROWD, PRIMITIVES };

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = join(HERE, 'child.mjs');

export const DEFAULTS = {
  sizes: [64, 4096, 65536, 1048576],
  duration: 0.5,
  repeat: 3,
  rounds: 2000,
  latencySize: 64,
  baseline: 'ipc-json',
  payloads: ['bytes', 'object', 'call', 'fanout'],
};

/** The baseline of the object rows (--payload object): every object ratio is to it. */
export const OBJECT_BASELINE = 'obj-ipc-json';

/**
 * The common count at `size`, the same for every primitive: 256 MiB worth, between 64 and
 * 100 000 messages. --quick runs exactly that; the default runs never fewer (bench/steady.mjs).
 */
export function defaultCount(size) {
  return Math.max(64, Math.min(100_000, Math.round((256 << 20) / size)));
}

/** The --wakeup rows: the ring's parked path, its spin-then-park default, and the bare futex they are compared with. */
export const WAKEUP_ROWS = ['ring-park', 'ring', 'futex'];

/**
 * Resolves `--only` tokens: an id, a prefix ('ring' → ring, ring-park, ring-mpmc, ...; 'obj' →
 * every object row), or a group, among the rows of `payloads` ('bytes', 'object'). An optional
 * primitive runs only when a token is its id.
 */
export function selectPrimitives(tokens, payloads = DEFAULTS.payloads) {
  // --payload: the byte rows, the object rows (bench/objects.mjs), or both.
  const catalog = PRIMITIVES.filter((p) => payloads.includes(p.payload ?? 'bytes'));
  if (!tokens || tokens.length === 0) return catalog.filter((p) => !p.optional);
  const chosen = new Set();
  for (const token of tokens) {
    if (!PRIMITIVES.some((p) => p.id === token || p.id.startsWith(`${token}-`) || p.group === token)) {
      throw new RangeError(`unknown primitive '${token}'`);
    }
    const hits = catalog.filter(
      (p) => p.id === token || (!p.optional && (p.id.startsWith(`${token}-`) || p.group === token)),
    );
    for (const hit of hits) chosen.add(hit.id);
  }
  if (chosen.size === 0) {
    throw new RangeError(`no row of --payload ${payloads.join(',')} matches --only ${tokens.join(',')}`);
  }
  return PRIMITIVES.filter((p) => chosen.has(p.id));
}

/**
 * `ids` with the baselines their ratios need: `baseline` (a byte row) when a byte row is among
 * them, OBJECT_BASELINE when an object row is.
 */
export function withBaselines(ids, baseline) {
  const rows = PRIMITIVES.filter((p) => ids.includes(p.id));
  const need = new Set(ids);
  if (rows.some((p) => (p.payload ?? 'bytes') === 'bytes')) need.add(baseline);
  if (rows.some((p) => p.payload === 'object')) need.add(OBJECT_BASELINE);
  if (rows.some((p) => p.payload === 'call')) need.add(CALL_BASELINE);
  if (rows.some((p) => p.payload === 'fanout')) need.add(FANOUT_BASELINE);
  return PRIMITIVES.filter((p) => need.has(p.id)).map((p) => p.id);
}

// ------------------------------------------------------------ resources, always cleaned up

function makeResources(prefix) {
  let serial = 0;
  const undo = [];
  const children = new Set();
  const name = () => `/${prefix}${serial++}`;
  const path = (ext) => join(tmpdir(), `${prefix}${serial++}${ext}`);
  const track = (fn) => undo.push(fn);
  const quiet = (fn) => {
    try {
      fn();
    } catch {
      // already gone
    }
  };
  const releaseAll = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children.clear();
    while (undo.length > 0) quiet(undo.pop());
    // Safety net: anything left under our prefix.
    for (const dir of ['/dev/shm', '/dev/mqueue', tmpdir()]) {
      try {
        for (const entry of readdirSync(dir)) {
          if (entry.includes(prefix)) rmSync(join(dir, entry), { force: true });
        }
      } catch {
        // no such directory
      }
    }
  };
  return { name, path, track, quiet, children, releaseAll };
}

// ------------------------------------------------------------ child processes

function startChild(res, cfg, options = {}) {
  return forkChild(CHILD, res.children, cfg, options);
}

/** The parent's sender into a child over process.send: at most ~4 MiB / 1024 messages unacknowledged. */
function ipcParentSender(child, size) {
  const window = Math.max(2, Math.min(1024, Math.floor((4 << 20) / size)));
  let inFlight = 0;
  let resume;
  let failure;
  const onSent = (error) => {
    if (error) failure ??= error;
    inFlight--;
    if (resume && inFlight <= window >> 1) {
      const wake = resume;
      resume = undefined;
      wake();
    }
  };
  return {
    fresh: false, // serialised inside send()
    send(message) {
      if (failure) throw failure;
      if (!child.connected) throw new Error('consumer disconnected');
      child.send(message, onSent);
      inFlight++;
      if (inFlight >= window) {
        return new Promise((resolve) => {
          resume = resolve;
        });
      }
    },
  };
}

function stdioParentSender(stream) {
  return {
    fresh: false,
    send(message) {
      const frame = Buffer.allocUnsafe(message.length + 4);
      frame.writeUInt32LE(message.length, 0);
      frame.set(message, 4);
      if (!stream.write(frame)) return once(stream, 'drain');
    },
  };
}

// ------------------------------------------------------------ availability and limits

/** The C tools (bench/native-tools.mjs) each native row runs. */
const NATIVE_TOOLS = {
  'c-ring': ['ring_producer', 'ring_consumer', 'ring_pingpong'],
  'c-pipe': ['pipe_bench'],
  'c-memcpy': ['memcpy_bench'],
};

/** RingBuffer's default spinUs (lib/structures/ring/ring-buffer.ts): the C ring spins as long before it parks. */
const RING_SPIN_US = 20;

/**
 * Finds or builds the C tools the native rows among `ids` need (bench/native-tools.mjs), once
 * per run: resolves with { paths } ({} when no native row is chosen), or { error } when they
 * cannot be built (code ERR_SHMKIT_NO_COMPILER or ERR_SHMKIT_TOOL_BUILD); those rows are then
 * skipped with `error.reason`.
 */
export async function prepareNativeTools(ids) {
  const names = [...new Set(selectPrimitives(ids).flatMap((p) => NATIVE_TOOLS[p.kind] ?? []))];
  if (names.length === 0) return { paths: {} };
  try {
    return { paths: await ensureTools(names) };
  } catch (error) {
    if (!String(error.code).startsWith('ERR_SHMKIT_')) throw error;
    error.reason =
      error.code === 'ERR_SHMKIT_NO_COMPILER'
        ? 'no C compiler to build its C tools (ERR_SHMKIT_NO_COMPILER)'
        : 'its C tools could not be built (ERR_SHMKIT_TOOL_BUILD)';
    return { error };
  }
}

/** Why `prim` cannot run at `size` here (a sentence), or undefined. */
export function skipReason(prim, size, limits, tools = { paths: {} }) {
  const caps = shmkit.capabilities;
  if (size < MIN_SIZE) return `messages under ${MIN_SIZE} B cannot carry the verification stamp`;
  switch (prim.kind) {
    case 'tq':
      if (typeof shmkit.TypedQueue !== 'function') return "TypedQueue is not exported by this build of 'shmkit'";
      return undefined;
    case 'sysv':
      if (!caps.sysvMq) return `System V message queues are not available on ${process.platform}`;
      if (limits.msgmax !== undefined && size > limits.msgmax) {
        return `${size} B > kernel.msgmax ${limits.msgmax} (/proc/sys/kernel/msgmax)`;
      }
      return undefined;
    case 'pmq':
      if (!caps.posixMq) return `POSIX message queues are not available on ${process.platform}`;
      if (limits.mqMsgsizeMax !== undefined && size > limits.mqMsgsizeMax) {
        return `${size} B > fs.mqueue.msgsize_max ${limits.mqMsgsizeMax} (/proc/sys/fs/mqueue/msgsize_max)`;
      }
      return undefined;
    case 'fifo':
      return caps.fifo ? undefined : `mkfifo is not available on ${process.platform}`;
    case 'sem':
      return caps.namedSemaphores ? undefined : 'named semaphores are not available';
    case 'futex':
      return caps.futex ? undefined : `futex(2) is Linux-only (this is ${process.platform})`;
    case 'signals':
      return caps.sigqueue && caps.siginfo
        ? undefined
        : `sigqueue with siginfo is not available on ${process.platform}`;
    case 'c-ring':
    case 'c-pipe':
    case 'c-memcpy':
      return tools.error?.reason;
    default:
      return undefined;
  }
}

/** Runs `create()`; tracks the handle's close(), or returns { skip } with the reason when creation is refused. */
function tryCreate(res, what, create) {
  try {
    const handle = create();
    res.track(() => handle.close());
    return { handle };
  } catch (error) {
    return { skip: `${what} refused: ${error.message}` };
  }
}

/** The ring or TypedQueue of one channel, `capacityBytes` of data area (the --ring-capacity option, in bytes). */
function createQueue(prim, name, size, capacityBytes) {
  if (prim.payload === 'object') return createObjectQueue(shmkit, prim, name, capacityBytes);
  if (prim.kind === 'ring') return shmkit.RingBuffer.create(name, { capacityBytes, ...prim.sides });
  if (prim.format === 'v8') return shmkit.TypedQueue.create(name, { codec: 'v8', capacityBytes });
  // A record queue counts records: as many as fit in about `capacityBytes`.
  return shmkit.TypedQueue.create(name, {
    schema: tqSchema(size),
    capacity: Math.max(4, Math.floor(capacityBytes / (size + 16))),
  });
}

/** Why messages of `size` cannot go through a ring of the chosen --ring-capacity (bytes), or undefined. */
function capacityReason(prim, size, chosen) {
  if (!chosen || !['ring', 'tq', 'c-ring'].includes(prim.kind)) return undefined;
  const need = prim.format === 'v8' ? size + 256 : size;
  if (need + 8 <= chosen) return undefined;
  return `${size} B messages do not fit a ring of --ring-capacity ${chosen} B (largest message ${chosen - 8} B)`;
}

/**
 * Creates the kernel objects of one case; returns { resources, ringCapacity } (cfg.resources for
 * the children; the data area in bytes of a ring or queue), or { skip } when creation is refused.
 */
function setupResources(res, prim, size, channels, options, latency) {
  const resources = {};
  let capacity;
  for (const ch of channels) {
    switch (prim.kind) {
      case 'ring':
      case 'tq': {
        const name = res.name();
        res.track(() => shmkit.SharedMemory.unlink(name));
        const bytes = latency
          ? (options.ringCapacity ?? LATENCY_RING_CAPACITY)
          : ringCapacity(prim.format === 'v8' ? size + 256 : size, options.ringCapacity);
        const made = tryCreate(res, `${prim.kind === 'ring' ? 'RingBuffer' : 'TypedQueue'}.create`, () =>
          createQueue(prim, name, size, bytes),
        );
        if (made.skip) return made;
        capacity = made.handle.capacityBytes;
        resources[ch] = name;
        break;
      }
      case 'sysv': {
        const queue = shmkit.SysvMessageQueue.private();
        res.track(() => queue.remove());
        resources[ch] = queue.id;
        break;
      }
      case 'pmq': {
        const name = res.name();
        res.track(() => shmkit.PosixMessageQueue.unlink(name));
        const made = tryCreate(res, 'PosixMessageQueue.create', () =>
          shmkit.PosixMessageQueue.create(name, {
            maxMessages: Math.min(10, options.limits.mqMsgMax ?? 10),
            messageSize: size,
          }),
        );
        if (made.skip) return made;
        resources[ch] = name;
        break;
      }
      case 'fifo': {
        const path = res.path('.fifo');
        shmkit.Fifo.create(path);
        res.track(() => shmkit.Fifo.unlink(path)); // also prunes shmkit's FIFO registry
        resources[ch] = path;
        break;
      }
      case 'net':
        if (prim.net === 'unix') {
          const path = res.path('.sock');
          res.track(() => rmSync(path, { force: true }));
          resources[ch] = path;
        }
        break;
      case 'sem': {
        const name = res.name();
        shmkit.Semaphore.create(name, { value: 0 }).close();
        res.track(() => shmkit.Semaphore.unlink(name));
        resources[ch] = name;
        break;
      }
      case 'futex': {
        const name = res.name();
        res.track(() => shmkit.SharedMemory.unlink(name));
        const made = tryCreate(res, 'SharedMemory.create', () => shmkit.SharedMemory.create(name, { size: 128 }));
        if (made.skip) return made;
        resources[ch] = name;
        break;
      }
      default:
        break;
    }
  }
  return { resources, ringCapacity: capacity };
}

// ------------------------------------------------------------ statistics

export { median };

// ------------------------------------------------------------ native floors

function execTool(file, args, timeoutMs) {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ error, stdout, stderr });
    });
  });
}

/**
 * How the C ring's two sides wait (arguments of both tools, and the consumer's): RingBuffer's
 * default spin before parking (`ring`, `ring-mpmc`, ...), parking at once (`ring-park`), and the
 * default spin with a consumer that lets the producer get ahead once it has caught up
 * (ring_tool.h, --trail). Across two vCPUs the policy, not the work per message, decides a
 * small message's rate (docs/benchmarks.md, "The C floor"): the C ring runs each and keeps the
 * fastest, so that it bounds every row, whichever way that row waits. `trail`'s 64 KiB: of 16
 * and 64 KiB, the one that measured faster at 4 KiB (equal at 64 B).
 */
const C_RING_TRAIL_BYTES = 64 * 1024;
const C_RING_POLICIES = [
  { id: 'spin', both: ['--spin-us', String(RING_SPIN_US)], consumer: [] },
  { id: 'park', both: ['--spin', '0'], consumer: [] },
  {
    id: 'trail',
    both: ['--spin-us', String(RING_SPIN_US)],
    consumer: ['--trail', String(C_RING_TRAIL_BYTES)],
  },
];

/**
 * One run of a native row with the C tools at `tools` ({ name: path }): { seconds } from first
 * to last message; the C ring's run is one run of its pair per policy, and adds `policy` (the
 * fastest one's, whose seconds count) and `byPolicy` ({ [policy]: seconds }).
 */
async function nativeRun(res, prim, tools, size, count, capacity, timeoutMs, placement = UNPINNED) {
  // --pin: the C processes run under taskset as the Node ones do (pipe_bench's fork inherits it).
  const pinned = (cpus, file, args) =>
    cpus === undefined ? [file, args] : [TASKSET, ['-c', String(cpus), file, ...args]];
  const run = (cpus, file, args) => execTool(...pinned(cpus, file, args), timeoutMs);
  if (prim.kind === 'c-pipe' || prim.kind === 'c-memcpy') {
    const tool = prim.kind === 'c-pipe' ? 'pipe_bench' : 'memcpy_bench';
    const cpus = prim.kind === 'c-pipe' ? bothEnds(placement) : placement.cpus?.[0];
    const { error, stdout, stderr } = await run(cpus, tools[tool], [String(count), String(size)]);
    const match = /^ok (\d+) (\d+) ([\d.]+)/m.exec(stdout);
    if (error || !match)
      throw Object.assign(new Error(`${tool}: ${stderr.trim() || error?.message}`), {
        verification: /byte|lost|wrong/.test(stderr),
      });
    return { seconds: Number(match[3]) };
  }
  const byPolicy = {};
  let best;
  for (const policy of C_RING_POLICIES) {
    const seconds = await ringPairRun(res, run, tools, size, count, capacity, placement, policy);
    byPolicy[policy.id] = seconds;
    if (best === undefined || seconds < best.seconds) best = { seconds, policy: policy.id };
  }
  return { ...best, byPolicy };
}

/** One run of ring_producer → ring_consumer waiting as `policy` says; seconds from first to last message. */
async function ringPairRun(res, run, tools, size, count, capacity, placement, policy) {
  // The JavaScript rows' work per message (a stamp, a sampled check): so that this row bounds them (ring_tool.h).
  const same = ['--sampled', ...policy.both];
  const name = res.name();
  res.track(() => shmkit.SharedMemory.unlink(name));
  const wallStart = performance.now();
  const consumerRun = run(placement.cpus?.[1], tools.ring_consumer, [
    name,
    String(count),
    '--create',
    String(capacity),
    '--stats',
    ...same,
    ...policy.consumer,
  ]);
  const producerRun = run(placement.cpus?.[0], tools.ring_producer, [
    name,
    String(count),
    String(size),
    '--wait',
    '5000',
    ...same,
  ]);
  const [c, p] = await Promise.all([consumerRun, producerRun]);
  if (p.error) throw new Error(`ring_producer: ${p.stderr.trim() || p.error.message}`);
  const match = /in ([\d.]+) s/.exec(c.stderr);
  if (c.error || !match) {
    throw Object.assign(new Error(`ring_consumer: ${c.stderr.trim() || c.error?.message}`), {
      verification: /byte|expected/.test(c.stderr),
    });
  }
  // ring_consumer prints microseconds: a run too short for that is timed from outside instead.
  const seconds = Number(match[1]);
  return seconds > 0 ? seconds : (performance.now() - wallStart) / 1000;
}

// ------------------------------------------------------------ one throughput case

const RING_COUNTERS = ['consumerParks', 'consumerWakes', 'producerParks', 'producerWakes'];

/** A ring header's counters are cumulative: this run's share of parks and wakes. */
function statsDelta(stats, before) {
  return Object.fromEntries(RING_COUNTERS.map((key) => [key, stats[key] - (before?.[key] ?? 0)]));
}

/** Where the children of one case run: taskset options for forkChild (i: 0 producer / pinger, 1 consumer / echo). */
function pinner(placement) {
  return (i) => (placement.cpus ? { cpu: placement.cpus[i], tasksetPath: TASKSET } : {});
}

/** One process holding both ends (in-process rows): on the placement's CPUs. */
function pinBoth(placement) {
  return placement.cpus ? { cpu: bothEnds(placement), tasksetPath: TASKSET } : {};
}

/** --pin for the rows whose producer or pinger is this process: pin it, and return the undo. */
function pinParent(prim, placement) {
  return prim.parentSends && placement.cpus ? pinSelf(placement.cpus[0]) : () => {};
}

/**
 * Makes the two ends of a throughput case; resolves with runOnce(run, count) → { seconds from
 * first to last message, stats? (a ring's cumulative counters) }, or { skip }.
 */
async function throughputEnds(res, prim, size, options, row, children, timeoutMs) {
  const placement = options.placement;
  if (prim.native) {
    const capacity = ringCapacity(size, options.ringCapacity);
    if (prim.kind === 'c-ring') row.ringCapacity = capacity;
    const tools = options.nativeTools.paths;
    return (_run, n) => nativeRun(res, prim, tools, size, n, capacity, timeoutMs, placement);
  }
  const setup = setupResources(res, prim, size, ['a'], options, false);
  if (setup.skip) return setup;
  if (setup.ringCapacity !== undefined) row.ringCapacity = setup.ringCapacity;
  const cfg = { primitive: prim.id, size, resources: setup.resources, ringCapacity: options.ringCapacity };
  const stdio = prim.kind === 'stdio' ? ['pipe', 'ignore', 'inherit', 'ipc'] : undefined;
  const pin = prim.inProcess ? () => pinBoth(placement) : pinner(placement);
  const consumerChild = startChild(
    res,
    { ...cfg, role: 'consumer' },
    { serialization: prim.serialization, stdio, ...pin(1) },
  );
  children.push(consumerChild);
  const ready = await consumerChild.expect('ready', 30_000);
  let produce;
  let producerChild;
  if (prim.parentSends) {
    const sender =
      prim.kind === 'ipc' ? ipcParentSender(consumerChild.child, size) : stdioParentSender(consumerChild.child.stdin);
    produce = producer(prim, size, sender);
  } else if (!prim.inProcess) {
    producerChild = startChild(res, { ...cfg, role: 'producer', peer: ready.info }, pin(0));
    children.push(producerChild);
    await producerChild.expect('ready', 30_000);
  }
  return async (run, n) => {
    consumerChild.send({ ctl: 'arm', run, count: n });
    await consumerChild.expect('armed', timeoutMs);
    let sent;
    if (producerChild) {
      producerChild.send({ ctl: 'go', run, count: n });
      sent = producerChild.expect('sent', timeoutMs);
    } else if (produce) {
      sent = produce(n);
    }
    const result = consumerChild.expect('result', timeoutMs);
    const [timing] = await Promise.all([result, sent]);
    return { seconds: (timing.t1 - timing.t0) / 1000, stats: timing.stats };
  };
}

/**
 * The warm-up: --quick, one run of a tenth of the count; else windows until the rate is
 * stable (bench/steady.mjs). Records it in row.warmup; resolves with { rate, stats }.
 */
async function warmCase(runOnce, row, common, options, progress) {
  const label = `${row.label} ${sizeLabel(row.size)}`;
  const first = Math.max(2, Math.round((options.count ?? common) / 10));
  if (options.quick) {
    progress.step(`${label} warm-up`);
    const warm = await runOnce(0, first);
    const msgsPerSec = (first - 1) / warm.seconds;
    row.warmup = {
      messages: first,
      seconds: warm.seconds,
      windows: [{ count: first, seconds: warm.seconds, msgsPerSec }],
    };
    return { rate: msgsPerSec, stats: warm.stats };
  }
  let window = 0;
  const warm = await warmUp((n) => {
    progress.step(`${label} warm-up ${++window}`);
    return runOnce(0, n);
  }, first);
  row.warmup = { messages: warm.messages, seconds: warm.seconds, windows: warm.windows };
  row.stable = warm.stable;
  return { rate: warm.msgsPerSec, stats: warm.last.stats };
}

async function throughputCase(res, prim, size, options, progress) {
  const placement = options.placement;
  const row = {
    primitive: prim.id,
    label: prim.label,
    group: prim.group,
    size,
    placement: placement.id,
    status: 'ok',
    runs: [],
  };
  const limits = options.limits;
  const reason =
    skipReason(prim, size, limits, options.nativeTools) ?? capacityReason(prim, size, options.ringCapacity);
  if (reason) return { ...row, status: 'skipped', reason };
  const common = defaultCount(size);
  const timeoutMs = Math.max(30_000, options.duration * 20_000, STEADY.maxRunSeconds * 1000 * 6);
  const children = [];
  let unpin = () => {};
  try {
    unpin = pinParent(prim, placement);
    const runOnce = await throughputEnds(res, prim, size, options, row, children, timeoutMs);
    if (runOnce.skip) return { ...row, status: 'skipped', reason: runOnce.skip };
    const warm = await warmCase(runOnce, row, common, options, progress);
    let previousStats = warm.stats;
    const sized = runCount({
      common,
      rate: warm.rate,
      duration: options.duration,
      quick: options.quick,
      fixed: options.count,
    });
    if (sized.reduced) row.reduced = true;
    row.count = sized.count;
    for (let run = 1; run <= options.repeat; run++) {
      progress.step(`${prim.label} ${sizeLabel(size)} run ${run}/${options.repeat}`);
      const { seconds, stats, policy, byPolicy } = await runOnce(run, sized.count);
      const msgsPerSec = (sized.count - 1) / seconds;
      const measured = { count: sized.count, seconds, msgsPerSec, MBps: (msgsPerSec * size) / 1e6 };
      if (byPolicy) Object.assign(measured, { policy, byPolicy });
      if (stats) measured.stats = statsDelta(stats, previousStats);
      previousStats = stats;
      row.runs.push(measured);
    }
    row.moved = { messages: sized.count * options.repeat, bytes: sized.count * options.repeat * size };
    row.msgsPerSec = spread(row.runs.map((r) => r.msgsPerSec));
    row.MBps = spread(row.runs.map((r) => r.MBps));
  } catch (error) {
    Object.assign(row, failure(error));
  } finally {
    unpin();
    await Promise.all(children.map((c) => c.stop()));
  }
  return row;
}

// ------------------------------------------------------------ one latency case

/**
 * The C ring's round trips (native/tools/ring_pingpong.c: the same message, stamp and check as
 * the ring rows, the same spin before parking), `options.repeat` runs of `options.rounds`.
 */
async function nativeLatency(row, options) {
  const reason = skipReason(byId.get('c-ring'), row.size, options.limits, options.nativeTools);
  if (reason) return { ...row, status: 'skipped', reason };
  const tool = options.nativeTools.paths.ring_pingpong;
  const warm = Math.max(20, Math.round(options.rounds / 10));
  const runs = [];
  try {
    for (let run = 0; run < options.repeat; run++) {
      const args = [String(options.rounds), String(row.size), '--warm', String(run === 0 ? warm : 0)];
      // --pin: the pinger and the echo on the placement's CPUs, as the Node ends are.
      const cpus = (options.placement ?? UNPINNED).cpus;
      const pinned = cpus ? ['--cpus', `${cpus[0]},${cpus[1]}`] : [];
      const { error, stdout, stderr } = await execTool(
        tool,
        [...args, '--spin-us', String(RING_SPIN_US), ...pinned],
        60_000,
      );
      const samples = /^ns((?: \d+)+)$/m.exec(stdout);
      if (error || !samples) {
        throw Object.assign(new Error(`ring_pingpong: ${stderr.trim() || error?.message}`), {
          verification: /wrong/.test(stderr),
        });
      }
      runs.push(samples[1].trim().split(' ').map(Number));
    }
    return Object.assign(row, percentilesUs(runs));
  } catch (error) {
    return Object.assign(row, failure(error));
  }
}

/**
 * Round trips of one message between two processes. placement (the --wakeup rows, or --pin
 * for every row): pin the pinger and the echo with taskset to placement.cpus (the parent
 * itself when it is the pinger); unpinned, the scheduler places them. The warm-up: a tenth
 * of the rounds, then (unless --quick) more until STEADY.latencyWarmSeconds have passed.
 */
async function latencyCase(res, prim, options, placement = options.placement) {
  const size = options.latencySize;
  const row = { primitive: prim.id, label: prim.label, group: prim.group, size, placement: placement.id, status: 'ok' };
  const pin = prim.inProcess ? () => pinBoth(placement) : pinner(placement);
  if (prim.kind === 'c-ring') return nativeLatency(row, { ...options, placement });
  if (prim.native) return { ...row, status: 'skipped', reason: 'the C pipe measures throughput only' };
  const reason = skipReason(prim, size, options.limits);
  if (reason) return { ...row, status: 'skipped', reason };
  const timeoutMs = Math.max(60_000, options.duration * options.repeat * 20_000);
  const children = [];
  const warm = Math.max(20, Math.round(options.rounds / 10));
  const warmMs = options.quick ? 0 : STEADY.latencyWarmSeconds * 1000;
  // A blocking echo stops after `total` messages; a warm-up by time has no count, so it runs until killed.
  const total = options.quick ? warm + options.rounds * options.repeat : Number.MAX_SAFE_INTEGER;
  // A latency run stops after this once it has 100 round trips: --duration, at least 1 s (the old default).
  const maxMs = Math.max(1, options.duration) * 1000;
  let unpin = () => {};
  try {
    unpin = pinParent(prim, placement);
    const setup = setupResources(res, prim, size, ['a', 'b'], options, true);
    if (setup.skip) return { ...row, status: 'skipped', reason: setup.skip };
    const cfg = { primitive: prim.id, size, resources: setup.resources };
    let runs;
    if (prim.parentSends) {
      const stdio = prim.kind === 'stdio' ? ['pipe', 'pipe', 'inherit', 'ipc'] : undefined;
      let deliver = () => {};
      const echo = startChild(
        res,
        { ...cfg, role: 'echo', total },
        {
          serialization: prim.serialization,
          stdio,
          onData: (m) => deliver(m),
          ...pin(1),
        },
      );
      children.push(echo);
      await echo.expect('ready', 30_000);
      let sender;
      let receiver;
      if (prim.kind === 'ipc') {
        sender = ipcParentSender(echo.child, size);
        receiver = {
          listen: (fn) => {
            deliver = fn;
          },
        };
      } else {
        sender = stdioParentSender(echo.child.stdin);
        // One parser at a time: each ping loop (warm-up windows, runs) listens
        // anew, and a parser left behind would parse every later frame again.
        // Between loops no frame is in flight, so none is cut in two.
        let parser;
        receiver = {
          listen(fn, fail) {
            if (parser) echo.child.stdout.off('data', parser);
            parser = frameParser(fn, fail, size);
            echo.child.stdout.on('data', parser);
          },
        };
      }
      const loop = (rounds, warmRounds) =>
        Promise.race([pingLoop(prim, size, sender, receiver, rounds, warmRounds, maxMs), echo.dead]);
      await loop(0, warm);
      for (const t = performance.now(); performance.now() - t < warmMs; ) await loop(0, warm);
      runs = [];
      for (let run = 0; run < options.repeat; run++) runs.push(Array.from(await loop(options.rounds, 0)));
    } else {
      const ping = startChild(res, { ...cfg, role: 'ping' }, pin(0));
      children.push(ping);
      const pingReady = await ping.expect('ready', 30_000);
      let echo;
      if (!prim.inProcess) {
        const peer = { ...pingReady.info, pid: ping.pid };
        echo = startChild(res, { ...cfg, role: 'echo', total, peer }, pin(1));
        children.push(echo);
      }
      const echoReady = echo ? await echo.expect('ready', 30_000) : {};
      ping.send({
        ctl: 'go',
        peer: { ...echoReady.info, pid: echo?.pid },
        runs: options.repeat,
        rounds: options.rounds,
        warm,
        warmMs,
        maxMs,
        total,
      });
      const samples = ping.expect('samples', timeoutMs);
      // An echo that dies (e.g. fails verification) fails the case instead of hanging it; one
      // that finishes its `total` exits normally, after the pinger has its last reply.
      const echoDead = echo
        ? echo.dead.catch((error) => (/exited \(code 0/.test(error.message) ? samples : Promise.reject(error)))
        : samples;
      const answer = await Promise.race([samples, echoDead]);
      runs = answer.runs;
      const waits = parkSplit(runs, answer.parked);
      if (waits) row.waits = waits;
    }
    Object.assign(row, percentilesUs(runs));
  } catch (error) {
    Object.assign(row, failure(error));
  } finally {
    unpin();
    await Promise.all(children.map((c) => c.stop()));
  }
  return row;
}

// ------------------------------------------------------------ the run

export { sizeLabel };

/** The JSON schema of runBench's result (docs/benchmarks.md, `--json` shape). */
export const SCHEMA = 'shmkit-bench/3';

/**
 * Runs the benchmark. options: { primitives (ids), sizes, duration (s: each measured run's
 * time; with quick, the longest one may take), repeat, count?, rounds, baseline, quick?, pin?
 * ('same' | 'split': every row pinned with taskset), prefix?, nativeTools? (what
 * prepareNativeTools resolved with; made here when absent) }; progress: { start(total),
 * step(text), caseDone(text), stop() } (all optional). Throws a RangeError when --pin cannot
 * be honoured here.
 */
export async function runBench(options, progress = {}) {
  const opts = { ...DEFAULTS, ...options };
  opts.placement = UNPINNED;
  if (opts.pin) {
    const pinned = pinPlacement(opts.pin);
    if (pinned.error) throw new RangeError(pinned.error);
    opts.placement = pinned.placement;
  }
  opts.limits = kernelLimits();
  const prims = selectPrimitives(opts.primitives, opts.payloads);
  // The C tools of the native rows are built here, before the first case, not at install.
  if (!opts.nativeTools) {
    opts.nativeTools = await prepareNativeTools(prims.map((p) => p.id));
  }
  const prefix = opts.prefix ?? process.env.SHMKIT_BENCH_PREFIX ?? `shmkit-bench-${process.pid}-`;
  const res = makeResources(prefix);
  const onExit = () => res.releaseAll();
  const onSignal = (signal) => {
    res.releaseAll();
    process.kill(process.pid, signal);
  };
  process.on('exit', onExit);
  const signalsToCatch = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signalsToCatch) process.once(s, onSignal);
  const tick = {
    step: (text) => progress.step?.(text),
  };
  const plan = makePlan(prims, opts);
  const started = performance.now();
  const machine = describeMachine();
  progress.start?.(plan.length, machine);
  const out = {
    throughput: [],
    latency: [],
    objects: [],
    objectLatency: [],
    calls: [],
    callLatency: [],
    fanout: [],
    wakeup: [],
    crowd: [],
    idle: null,
    nats: null,
  };
  try {
    for (const item of plan) {
      tick.step(item.text);
      let row = await runItem(res, item, opts, tick);
      if (item.type === 'idle') out.idle = row;
      else if (item.type === 'nats') out.nats = row;
      else if (item.type === 'serviceLiveness') out.serviceLiveness = row;
      else if (item.type === 'crowd') {
        out.crowd.push(row.alone, row.crowded);
        row = row.crowded;
      } else out[item.type].push(row);
      progress.caseDone?.(row, item.type);
      res.releaseAll();
    }
  } finally {
    res.releaseAll();
    process.off('exit', onExit);
    for (const s of signalsToCatch) process.off(s, onSignal);
    progress.stop?.();
  }
  addRatios(out, opts.baseline);
  addCallRatios(out.calls, out.callLatency);
  addFanoutRatios(out.fanout);
  const rows = [
    ...out.throughput,
    ...out.latency,
    ...out.objects,
    ...out.objectLatency,
    ...out.calls,
    ...out.callLatency,
    ...out.fanout,
    ...out.wakeup,
    ...out.crowd,
    ...(out.idle ? [out.idle] : []),
    ...(out.nats ? [out.nats] : []),
    ...(out.serviceLiveness ? [out.serviceLiveness] : []),
  ];
  const failed = rows.filter((r) => r.status.startsWith('failed'));
  return {
    schema: SCHEMA,
    date: new Date().toISOString(),
    machine,
    limits: opts.limits,
    options: {
      primitives: prims.map((p) => p.id),
      sizes: opts.sizes,
      duration: opts.duration,
      repeat: opts.repeat,
      count: opts.count ?? null,
      quick: Boolean(opts.quick),
      pin: opts.pin ?? null,
      steady: opts.quick ? null : { ...STEADY },
      rounds: opts.rounds,
      latencySize: opts.latencySize,
      baseline: opts.baseline,
      payloads: opts.payloads,
      objectSize: OBJECT_SIZE,
      objectBaseline: OBJECT_BASELINE,
      callBaseline: CALL_BASELINE,
      callWindow: CALL_WINDOW,
      fanoutBaseline: FANOUT_BASELINE,
      fanoutSubscribers: FANOUT_SUBSCRIBERS,
      fanoutSizes: FANOUT_SIZES,
      ringCapacity: opts.ringCapacity ?? null,
      wakeup: Boolean(opts.wakeup),
      crowd: opts.crowd ?? null,
      idle: Boolean(opts.idle),
      nats: Boolean(opts.nats),
    },
    primitives: prims.map(({ id, label, group, api }) => ({ id, label, group, api })),
    ...out,
    seconds: (performance.now() - started) / 1000,
    ok: failed.length === 0,
  };
}

/** The cases in the order they run: each primitive's sizes and latency, then --wakeup, --crowd and --idle. */
function makePlan(prims, opts) {
  const plan = [];
  for (const prim of prims) {
    if (prim.payload === 'object') {
      // One object size: its throughput and its round trip, in their own table.
      plan.push({ type: 'objects', prim, text: `${prim.label} objects` });
      plan.push({ type: 'objectLatency', prim, text: `${prim.label} objects latency` });
      continue;
    }
    if (prim.payload === 'call') {
      // Calls (bench/calls.mjs): pipelined calls/s and sequential round trips, in their own table.
      plan.push({ type: 'calls', prim, text: `${prim.label} pipelined calls` });
      plan.push({ type: 'callLatency', prim, text: `${prim.label} sequential calls` });
      continue;
    }
    if (prim.payload === 'fanout') {
      // Fan-out (bench/fanout.mjs): one publisher, every subscriber gets every message; its own table.
      for (const size of FANOUT_SIZES)
        plan.push({ type: 'fanout', prim, size, text: `${prim.label} ${sizeLabel(size)}` });
      continue;
    }
    if (!prim.latencyOnly) {
      for (const size of opts.sizes)
        plan.push({ type: 'throughput', prim, size, text: `${prim.label} ${sizeLabel(size)}` });
    }
    if ((!prim.native || prim.kind === 'c-ring') && !prim.throughputOnly)
      plan.push({ type: 'latency', prim, text: `${prim.label} latency` });
  }
  if (opts.wakeup) {
    for (const placement of wakeupPlacements()) {
      for (const id of WAKEUP_ROWS) {
        plan.push({ type: 'wakeup', prim: byId.get(id), placement, text: `${id} wake-up, ${placement.label}` });
      }
    }
  }
  if (opts.crowd) {
    for (const placement of wakeupPlacements()) {
      plan.push({ type: 'crowd', placement, text: `futex.wait among ${opts.crowd} pending, ${placement.label}` });
    }
  }
  if (opts.idle) plan.push({ type: 'idle', text: 'idle parked consumer' });
  if (opts.nats) plan.push({ type: 'nats', text: 'shmkit/nats against the plain nats client' });
  // A full run with the Service's call row: its liveness numbers too (bench/service-liveness.mjs).
  if (!opts.quick && prims.some((p) => p.id === 'svc'))
    plan.push({ type: 'serviceLiveness', text: 'service liveness' });
  return plan;
}

function runItem(res, item, opts, tick) {
  if (item.type === 'throughput') return throughputCase(res, item.prim, item.size, opts, tick);
  if (item.type === 'latency') return latencyCase(res, item.prim, opts);
  if (item.type === 'objects') return throughputCase(res, item.prim, OBJECT_SIZE, opts, tick);
  if (item.type === 'objectLatency') return latencyCase(res, item.prim, { ...opts, latencySize: OBJECT_SIZE });
  if (item.type === 'calls') return callThroughputCase(res, item.prim, opts, tick);
  if (item.type === 'callLatency') return callLatencyCase(res, item.prim, opts, tick);
  if (item.type === 'fanout') return fanoutCase(res, item.prim, item.size, opts, tick);
  if (item.type === 'wakeup') return latencyCase(res, item.prim, opts, item.placement);
  if (item.type === 'crowd') return crowdCase(res, startChild, opts, item.placement);
  if (item.type === 'serviceLiveness') return serviceLivenessCase(res);
  if (item.type === 'nats') return natsCase(res, opts, tick);
  return idleCase(res, startChild);
}

/** The object rows' ratios, to OBJECT_BASELINE: objects/s ÷ its objects/s, its p50 ÷ the p50 (higher is faster). */
function addObjectRatios(objects, objectLatency) {
  const base = objects.find((r) => r.primitive === OBJECT_BASELINE && r.msgsPerSec);
  for (const row of objects) if (row.msgsPerSec && base) row.ratio = row.msgsPerSec.median / base.msgsPerSec.median;
  const baseLatency = objectLatency.find((r) => r.primitive === OBJECT_BASELINE && r.p50Us);
  for (const row of objectLatency) if (row.p50Us && baseLatency) row.ratio = baseLatency.p50Us / row.p50Us;
}

/**
 * ratio: throughput msgs/s ÷ the baseline's at the same size; latency: the baseline's p50 ÷
 * this p50; wake-up: the bare futex's p50 ÷ this p50 at the same placement (higher is faster
 * everywhere). ofMemcpy: MB/s ÷ the memcpy row's at the same size; ofFloor: MB/s ÷ the C
 * ring's (the native floor) at the same size.
 */
function addRatios({ throughput, latency, objects, objectLatency, wakeup }, baseline) {
  addObjectRatios(objects, objectLatency);
  const at = (id, size) => throughput.find((r) => r.primitive === id && r.size === size && r.msgsPerSec);
  for (const row of throughput) {
    if (!row.msgsPerSec) continue;
    const base = at(baseline, row.size);
    if (base) row.ratio = row.msgsPerSec.median / base.msgsPerSec.median;
    const copy = at('memcpy', row.size);
    if (copy) row.ofMemcpy = row.MBps.median / copy.MBps.median;
    const floor = at('c-ring', row.size);
    if (floor && row.group === 'shmkit') row.ofFloor = row.MBps.median / floor.MBps.median;
  }
  const baseLatency = latency.find((r) => r.primitive === baseline && r.p50Us);
  for (const row of latency) if (row.p50Us && baseLatency) row.ratio = baseLatency.p50Us / row.p50Us;
  for (const row of wakeup) {
    const futex = wakeup.find((r) => r.primitive === 'futex' && r.placement === row.placement && r.p50Us);
    if (row.p50Us && futex) row.ratio = futex.p50Us / row.p50Us;
  }
}
