// `shmkit bench`: runs every transport of bench/transports.mjs between two
// processes, throughput by size and round-trip latency at 64 B, and returns
// the results (bench/report.mjs renders them). Used by lib/tooling/cli/bench.ts; see
// docs/benchmarks.md for the method.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import hdr from 'hdr-histogram-js';
import * as shmkit from 'shmkit';
import { forkChild } from './fork.mjs';
import { median, sizeLabel, spread } from './format.mjs';
import { MIN_SIZE } from './message.mjs';
import { describeMachine } from './ring/machine.mjs';
import { frameParser, kernelLimits, PRIMITIVES, pingLoop, producer, ringCapacity, tqSchema } from './transports.mjs';

export { PRIMITIVES };

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = join(HERE, 'child.mjs');
const ROOT = dirname(HERE);

export const DEFAULTS = {
  sizes: [64, 4096, 65536, 1048576],
  duration: 1,
  repeat: 3,
  rounds: 2000,
  latencySize: 64,
  baseline: 'ipc-json',
};

/** Messages per run at `size`, the same for every primitive: 256 MiB worth, between 64 and 100 000. */
export function defaultCount(size) {
  return Math.max(64, Math.min(100_000, Math.round((256 << 20) / size)));
}

/** Resolves `--only` tokens: an id, a prefix ('ring' → ring, ring-park, ring-mpmc), or a group. */
export function selectPrimitives(tokens) {
  if (!tokens || tokens.length === 0) return PRIMITIVES;
  const chosen = new Set();
  for (const token of tokens) {
    const hits = PRIMITIVES.filter((p) => p.id === token || p.id.startsWith(`${token}-`) || p.group === token);
    if (hits.length === 0) throw new RangeError(`unknown primitive '${token}'`);
    for (const hit of hits) chosen.add(hit.id);
  }
  return PRIMITIVES.filter((p) => chosen.has(p.id));
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

const TOOLS = join(ROOT, 'build', 'Release');

/** Why `prim` cannot run at `size` here (a sentence), or undefined. */
export function skipReason(prim, size, limits) {
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
      return existsSync(join(TOOLS, 'ring_producer')) && existsSync(join(TOOLS, 'ring_consumer'))
        ? undefined
        : 'build/Release/ring_producer and ring_consumer are not built (npm run build:native)';
    case 'c-pipe':
      return existsSync(join(TOOLS, 'pipe_bench'))
        ? undefined
        : 'build/Release/pipe_bench is not built (npm run build:native)';
    default:
      return undefined;
  }
}

/** Creates the kernel objects of one case; returns cfg.resources, or { skip } when creation is refused. */
function setupResources(res, prim, size, channels, latency) {
  const resources = {};
  for (const ch of channels) {
    switch (prim.kind) {
      case 'ring': {
        const name = res.name();
        res.track(() => shmkit.SharedMemory.unlink(name));
        const ring = shmkit.RingBuffer.create(name, {
          capacityBytes: latency ? 1 << 16 : ringCapacity(size),
          ...prim.sides,
        });
        res.track(() => ring.close());
        resources[ch] = name;
        break;
      }
      case 'tq': {
        const name = res.name();
        res.track(() => shmkit.SharedMemory.unlink(name));
        let queue;
        try {
          queue =
            prim.format === 'record'
              ? shmkit.TypedQueue.create(name, {
                  schema: tqSchema(size),
                  capacity: Math.max(4, Math.floor(ringCapacity(size) / (size + 16))),
                })
              : shmkit.TypedQueue.create(name, { codec: 'v8', capacityBytes: ringCapacity(size + 256) });
        } catch (error) {
          return { skip: `TypedQueue.create refused: ${error.message}` };
        }
        res.track(() => queue.close());
        resources[ch] = name;
        break;
      }
      case 'sysv': {
        const queue = shmkit.MessageQueue.private();
        res.track(() => queue.remove());
        resources[ch] = queue.id;
        break;
      }
      case 'pmq': {
        const name = res.name();
        res.track(() => shmkit.PosixMessageQueue.unlink(name));
        let queue;
        try {
          queue = shmkit.PosixMessageQueue.create(name, {
            maxMessages: Math.min(10, kernelLimits().mqMsgMax ?? 10),
            messageSize: size,
          });
        } catch (error) {
          return { skip: `PosixMessageQueue.create refused: ${error.message}` };
        }
        res.track(() => queue.close());
        resources[ch] = name;
        break;
      }
      case 'fifo': {
        const path = res.path('.fifo');
        shmkit.Fifo.create(path);
        res.track(() => rmSync(path, { force: true }));
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
        const shm = shmkit.SharedMemory.create(name, { size: 128 });
        res.track(() => shm.close());
        resources[ch] = name;
        break;
      }
      default:
        break;
    }
  }
  return { resources };
}

// ------------------------------------------------------------ statistics

export { median };

// ------------------------------------------------------------ native floors

function execTool(file, args, timeoutMs) {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ error, stdout, stderr });
    });
  });
}

async function nativeRun(res, prim, size, count, timeoutMs) {
  if (prim.kind === 'c-pipe') {
    const { error, stdout, stderr } = await execTool(
      join(TOOLS, 'pipe_bench'),
      [String(count), String(size)],
      timeoutMs,
    );
    const match = /^ok (\d+) (\d+) ([\d.]+)/m.exec(stdout);
    if (error || !match)
      throw Object.assign(new Error(`pipe_bench: ${stderr.trim() || error?.message}`), {
        verification: /byte|lost/.test(stderr),
      });
    return Number(match[3]);
  }
  const name = res.name();
  res.track(() => shmkit.SharedMemory.unlink(name));
  const capacity = ringCapacity(size);
  const wallStart = performance.now();
  const consumerRun = execTool(
    join(TOOLS, 'ring_consumer'),
    [name, String(count), '--create', String(capacity), '--stats'],
    timeoutMs,
  );
  const producerRun = execTool(
    join(TOOLS, 'ring_producer'),
    [name, String(count), String(size), '--wait', '5000'],
    timeoutMs,
  );
  const [c, p] = await Promise.all([consumerRun, producerRun]);
  if (p.error) throw new Error(`ring_producer: ${p.stderr.trim() || p.error.message}`);
  const match = /in ([\d.]+) s/.exec(c.stderr);
  if (c.error || !match) {
    throw Object.assign(new Error(`ring_consumer: ${c.stderr.trim() || c.error?.message}`), {
      verification: /byte|expected/.test(c.stderr),
    });
  }
  // ring_consumer prints milliseconds: a run too short for that is timed from outside instead.
  const seconds = Number(match[1]);
  return seconds > 0 ? seconds : (performance.now() - wallStart) / 1000;
}

// ------------------------------------------------------------ one throughput case

async function throughputCase(res, prim, size, options, progress) {
  const row = { primitive: prim.id, label: prim.label, group: prim.group, size, status: 'ok', runs: [] };
  const limits = options.limits;
  const reason = skipReason(prim, size, limits);
  if (reason) return { ...row, status: 'skipped', reason };
  const count = options.count ?? defaultCount(size);
  const warmCount = Math.max(2, Math.round(count / 10));
  const timeoutMs = Math.max(30_000, options.duration * 20_000);
  const children = [];
  try {
    let runOnce; // (run, count) → seconds from first to last message
    if (prim.native) {
      runOnce = (_run, n) => nativeRun(res, prim, size, n, timeoutMs);
    } else {
      const setup = setupResources(res, prim, size, ['a'], false);
      if (setup.skip) return { ...row, status: 'skipped', reason: setup.skip };
      const cfg = { primitive: prim.id, size, resources: setup.resources };
      const stdio = prim.kind === 'stdio' ? ['pipe', 'ignore', 'inherit', 'ipc'] : undefined;
      const consumerChild = startChild(res, { ...cfg, role: 'consumer' }, { serialization: prim.serialization, stdio });
      children.push(consumerChild);
      const ready = await consumerChild.expect('ready', 30_000);
      let produce;
      let producerChild;
      if (prim.parentSends) {
        const sender =
          prim.kind === 'ipc'
            ? ipcParentSender(consumerChild.child, size)
            : stdioParentSender(consumerChild.child.stdin);
        produce = producer(prim, size, sender);
      } else if (prim.kind !== 'worker') {
        producerChild = startChild(res, { ...cfg, role: 'producer', peer: ready.info });
        children.push(producerChild);
        await producerChild.expect('ready', 30_000);
      }
      runOnce = async (run, n) => {
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
        return (timing.t1 - timing.t0) / 1000;
      };
    }
    // Warm-up (also calibrates: a primitive too slow for `count` within --duration sends fewer).
    const warmSeconds = await runOnce(0, warmCount);
    const warmRate = (warmCount - 1) / warmSeconds;
    row.warmup = { count: warmCount, msgsPerSec: warmRate };
    let runCount = count;
    if (options.count === undefined && Number.isFinite(warmRate) && count / warmRate > 1.5 * options.duration) {
      runCount = Math.max(Math.min(count, 20), Math.floor(warmRate * options.duration));
      row.reduced = true;
    }
    row.count = runCount;
    for (let run = 1; run <= options.repeat; run++) {
      progress.step(`${prim.label} ${sizeLabel(size)} run ${run}/${options.repeat}`);
      const seconds = await runOnce(run, runCount);
      const msgsPerSec = (runCount - 1) / seconds;
      row.runs.push({ count: runCount, seconds, msgsPerSec, MBps: (msgsPerSec * size) / 1e6 });
    }
    row.msgsPerSec = spread(row.runs.map((r) => r.msgsPerSec));
    row.MBps = spread(row.runs.map((r) => r.MBps));
  } catch (error) {
    row.status = error.verification || error.name === 'VerificationError' ? 'failed-verification' : 'failed';
    row.reason = error.message;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
  return row;
}

// ------------------------------------------------------------ one latency case

async function latencyCase(res, prim, options) {
  const size = options.latencySize;
  const row = { primitive: prim.id, label: prim.label, group: prim.group, size, status: 'ok' };
  if (prim.native) return { ...row, status: 'skipped', reason: 'the C floors measure throughput only' };
  const reason = skipReason(prim, size, options.limits);
  if (reason) return { ...row, status: 'skipped', reason };
  const timeoutMs = Math.max(60_000, options.duration * options.repeat * 20_000);
  const children = [];
  const warm = Math.max(20, Math.round(options.rounds / 10));
  const total = warm + options.rounds * options.repeat;
  const maxMs = options.duration * 1000;
  try {
    const setup = setupResources(res, prim, size, ['a', 'b'], true);
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
        receiver = {
          listen(fn, fail) {
            echo.child.stdout.on('data', frameParser(fn, fail, size));
          },
        };
      }
      runs = [];
      for (let run = 0; run < options.repeat; run++) {
        const samples = await Promise.race([
          pingLoop(prim, size, sender, receiver, options.rounds, run === 0 ? warm : 0, maxMs),
          echo.dead,
        ]);
        runs.push(Array.from(samples));
      }
    } else {
      const ping = startChild(res, { ...cfg, role: 'ping' });
      children.push(ping);
      const pingReady = await ping.expect('ready', 30_000);
      let echo;
      if (prim.kind !== 'worker') {
        echo = startChild(res, { ...cfg, role: 'echo', total, peer: { ...pingReady.info, pid: ping.pid } });
        children.push(echo);
      }
      const echoReady = echo ? await echo.expect('ready', 30_000) : {};
      ping.send({
        ctl: 'go',
        peer: { ...echoReady.info, pid: echo?.pid },
        runs: options.repeat,
        rounds: options.rounds,
        warm,
        maxMs,
        total,
      });
      const samples = ping.expect('samples', timeoutMs);
      // An echo that dies (e.g. fails verification) fails the case instead of hanging it; one
      // that finishes its `total` exits normally, after the pinger has its last reply.
      const echoDead = echo
        ? echo.dead.catch((error) => (/exited \(code 0/.test(error.message) ? samples : Promise.reject(error)))
        : samples;
      runs = (await Promise.race([samples, echoDead])).runs;
    }
    const histogram = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 120e9,
      numberOfSignificantValueDigits: 3,
    });
    const p50s = [];
    for (const samples of runs) {
      const perRun = [...samples].sort((a, b) => a - b);
      if (perRun.length > 0) p50s.push(perRun[Math.floor(perRun.length / 2)] / 1000);
      for (const ns of samples) histogram.recordValue(Math.max(1, Math.round(ns)));
    }
    const us = (p) => histogram.getValueAtPercentile(p) / 1000;
    Object.assign(row, {
      rounds: histogram.totalCount,
      p50: us(50),
      p90: us(90),
      p99: us(99),
      p999: us(99.9),
      max: histogram.maxValue / 1000,
      mean: histogram.mean / 1000,
      p50Runs: spread(p50s),
    });
    histogram.destroy?.();
  } catch (error) {
    row.status = error.verification || error.name === 'VerificationError' ? 'failed-verification' : 'failed';
    row.reason = error.message;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
  return row;
}

// ------------------------------------------------------------ the run

export { sizeLabel };

/**
 * Runs the benchmark. options: { primitives (ids), sizes, duration (s), repeat, count?, rounds,
 * baseline, prefix? }; progress: { start(total), step(text), caseDone(text), stop() } (all optional).
 */
export async function runBench(options, progress = {}) {
  const opts = { ...DEFAULTS, ...options };
  opts.limits = kernelLimits();
  const prims = selectPrimitives(opts.primitives);
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
  const plan = [];
  for (const prim of prims) {
    if (!prim.latencyOnly) for (const size of opts.sizes) plan.push({ type: 'throughput', prim, size });
    if (!prim.native) plan.push({ type: 'latency', prim });
  }
  const started = performance.now();
  const machine = describeMachine();
  progress.start?.(plan.length, machine);
  const throughput = [];
  const latency = [];
  try {
    for (const item of plan) {
      tick.step(item.type === 'latency' ? `${item.prim.label} latency` : `${item.prim.label} ${sizeLabel(item.size)}`);
      if (item.type === 'throughput') {
        const row = await throughputCase(res, item.prim, item.size, opts, tick);
        throughput.push(row);
        progress.caseDone?.(row, 'throughput');
      } else {
        const row = await latencyCase(res, item.prim, opts);
        latency.push(row);
        progress.caseDone?.(row, 'latency');
      }
      res.releaseAll();
    }
  } finally {
    res.releaseAll();
    process.off('exit', onExit);
    for (const s of signalsToCatch) process.off(s, onSignal);
    progress.stop?.();
  }
  // Ratios against the baseline, same size.
  for (const row of throughput) {
    const base = throughput.find((r) => r.primitive === opts.baseline && r.size === row.size && r.msgsPerSec);
    if (row.msgsPerSec && base) row.ratio = row.msgsPerSec.median / base.msgsPerSec.median;
  }
  const baseLatency = latency.find((r) => r.primitive === opts.baseline && r.p50);
  for (const row of latency) if (row.p50 && baseLatency) row.ratio = baseLatency.p50 / row.p50;
  const failed = [...throughput, ...latency].filter((r) => r.status.startsWith('failed'));
  return {
    schema: 'shmkit-bench/1',
    date: new Date().toISOString(),
    machine,
    limits: opts.limits,
    options: {
      primitives: prims.map((p) => p.id),
      sizes: opts.sizes,
      duration: opts.duration,
      repeat: opts.repeat,
      count: opts.count ?? null,
      rounds: opts.rounds,
      latencySize: opts.latencySize,
      baseline: opts.baseline,
    },
    primitives: prims.map(({ id, label, group, api }) => ({ id, label, group, api })),
    throughput,
    latency,
    seconds: (performance.now() - started) / 1000,
    ok: failed.length === 0,
  };
}
