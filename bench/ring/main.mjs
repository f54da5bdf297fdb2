#!/usr/bin/env node
// bench/ring: the ring buffer between two Node processes, beside Node's own
// IPC (process.send json/advanced) and a Unix socket moving the same messages
// in the same run; memcpy bandwidth, wake-up latency and the idle cost of a
// parked consumer. Read the ratios, not the absolute numbers.
//
//   node bench/ring/main.mjs [--quick] [--sizes 64,4096,1048576] [--runs 3] [--json FILE]
//                            [--transports ring-spsc,unix,...] [--rounds N]
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as shmkit from 'shmkit';
import { forkChild } from '../fork.mjs';
import { fixed, median, rate, ratio, sizeLabel, spread } from '../format.mjs';
import { describeMachine, machineLine } from './machine.mjs';
import {
  ipcProducer,
  MIN_SIZE,
  makeTemplate,
  queueCapacity,
  ringCapacity,
  stamp,
  TRANSPORTS,
  typedQueueSchema,
} from './transports.mjs';

const { RingBuffer, SharedMemory } = shmkit;
const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const USAGE = `usage: node bench/ring/main.mjs [--quick] [--sizes 64,4096,1048576] [--runs 3] [--json FILE]
       [--transports ${TRANSPORTS.map((t) => t.id).join(',')}] [--rounds N]`;

// ------------------------------------------------------------ options

function parseOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string', default: '64,4096,1048576' },
      runs: { type: 'string', default: '3' },
      json: { type: 'string' },
      transports: { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const integer = (text, what, min, max) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${what} must be an integer in [${min}, ${max}], got '${text}'\n${USAGE}`);
    }
    return value;
  };
  const sizes = values.sizes.split(',').map((s) => integer(s.trim(), '--sizes', MIN_SIZE, 64 << 20));
  const runs = integer(values.runs, '--runs', 1, 100);
  let transports = TRANSPORTS;
  if (values.transports) {
    const ids = values.transports.split(',').map((s) => s.trim());
    for (const id of ids) {
      if (!TRANSPORTS.some((t) => t.id === id)) throw new RangeError(`unknown transport '${id}'\n${USAGE}`);
    }
    transports = TRANSPORTS.filter((t) => ids.includes(t.id));
  }
  const rounds = values.rounds ? integer(values.rounds, '--rounds', 10, 10_000_000) : values.quick ? 2000 : 20000;
  return { quick: values.quick, sizes, runs, json: values.json, transports, rounds };
}

/** The same count for every transport at one size; sized so a default run of 64 B/4 KiB/1 MiB takes ~90 s on 2 vCPUs. */
function messageCount(size, quick) {
  let count;
  if (size <= 256) count = 200_000;
  else if (size <= 16 << 10) count = 40_000;
  else if (size <= 128 << 10) count = 4000;
  else count = Math.max(50, Math.round((400 * (1 << 20)) / size));
  return quick ? Math.max(10, Math.round(count / 10)) : count;
}

// ------------------------------------------------------------ resources (always cleaned up)

const PREFIX = `shmkit-bench-ring-${process.pid}-`;
const live = { children: new Set(), shm: new Set(), files: new Set(), handles: new Set() };
let serial = 0;

function shmName() {
  const name = `/${PREFIX}${serial++}`;
  live.shm.add(name);
  return name;
}

function socketPath() {
  const path = join(tmpdir(), `${PREFIX}${serial++}.sock`);
  live.files.add(path);
  return path;
}

function release({ handles = [], names = [], files = [] }) {
  for (const handle of handles) {
    try {
      handle.close();
    } catch {
      // already closed
    }
    live.handles.delete(handle);
  }
  for (const name of names) {
    try {
      SharedMemory.unlink(name);
    } catch {
      // never created, or already gone
    }
    live.shm.delete(name);
  }
  for (const file of files) {
    rmSync(file, { force: true });
    live.files.delete(file);
  }
}

function cleanupAll() {
  for (const child of live.children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.children.clear();
  release({ handles: [...live.handles], names: [...live.shm], files: [...live.files] });
  // A safety net for anything created under our prefix (e.g. by a TypedQueue under another name).
  try {
    for (const entry of readdirSync('/dev/shm')) if (entry.startsWith(PREFIX)) rmSync(join('/dev/shm', entry));
  } catch {
    // no /dev/shm (not Linux)
  }
}

process.on('exit', cleanupAll);
for (const [signal, number] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
]) {
  process.on(signal, () => {
    cleanupAll();
    process.exit(128 + number);
  });
}

// ------------------------------------------------------------ children

/** Forks child.mjs in `cfg.role`; expect(ctl) awaits its next control message (rejecting if it dies or errs). */
function startChild(cfg, serialization = 'json', cpu = undefined) {
  return forkChild(CHILD, live.children, cfg, {
    serialization,
    cpu,
    tasksetPath: TASKSET,
    timeoutMs: 180_000,
    roleInErrors: true,
  });
}

// ------------------------------------------------------------ statistics and formatting

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function progress(text) {
  process.stderr.write(`${text}\n`);
}

// ------------------------------------------------------------ memcpy (in-process ceiling)

/**
 * GB/s of `copy(src, dst)` for `size`-byte messages. `slots` > 1 rotates
 * through that many source and destination slots (a working set as large as
 * a ring's data area), else the same two buffers stay hot in cache.
 */
function copyRate(size, runs, copy, slots = 1) {
  const srcArea = makeTemplate(size * slots);
  const dstArea = new Uint8Array(size * slots);
  const src = [];
  const dst = [];
  for (let i = 0; i < slots; i++) {
    src.push(srcArea.subarray(i * size, (i + 1) * size));
    dst.push(dstArea.subarray(i * size, (i + 1) * size));
  }
  const batch = Math.max(1, Math.floor((16 << 20) / size));
  const results = [];
  let sink = 0;
  let slot = 0;
  for (let r = 0; r <= runs; r++) {
    let bytes = 0;
    const t0 = performance.now();
    let t1 = t0;
    while (t1 - t0 < 120) {
      for (let i = 0; i < batch; i++) {
        sink += copy(src[slot], dst[slot]).length;
        slot = slot + 1 === slots ? 0 : slot + 1;
      }
      bytes += batch * size;
      t1 = performance.now();
    }
    if (r > 0) results.push(bytes / ((t1 - t0) / 1000) / 1e9); // the first pass warms up
  }
  if (sink < 0) console.log(sink);
  return { medianGBps: median(results), runsGBps: results };
}

function measureMemcpy(sizes, runs) {
  const out = {};
  const set = (src, dst) => {
    dst.set(src);
    return dst;
  };
  for (const size of sizes) {
    out[size] = {
      set: copyRate(size, runs, set),
      slice: copyRate(size, runs, (src) => src.slice()),
      // The same copy over a ring-sized working set: what a ring's data area costs once it outgrows the caches.
      setRingSized: copyRate(size, runs, set, Math.max(1, Math.floor(ringCapacity(size) / size))),
    };
  }
  return out;
}

// ------------------------------------------------------------ throughput cases

async function runCase(transport, size, plan) {
  const names = [];
  const files = [];
  const handles = [];
  const children = [];
  const result = { transport: transport.id, label: transport.label, api: transport.api, size, plan, runs: [] };
  try {
    const cfg = { transport: transport.id, size, spinUs: transport.spinUs };
    if (transport.kind === 'ring') {
      cfg.name = shmName();
      names.push(cfg.name);
      const ring = RingBuffer.create(cfg.name, { capacityBytes: ringCapacity(size), ...transport.sides });
      handles.push(ring);
      live.handles.add(ring);
      result.capacityBytes = ring.capacityBytes;
    } else if (transport.kind === 'typed-queue') {
      if (typeof shmkit.TypedQueue !== 'function') {
        result.skipped = "TypedQueue is not exported by 'shmkit' (lib/structures/typed-queue.ts not built yet)";
        return result;
      }
      cfg.name = shmName();
      names.push(cfg.name);
      let queue;
      try {
        queue = shmkit.TypedQueue.create(cfg.name, { schema: typedQueueSchema(size), capacity: queueCapacity(size) });
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        result.skipped = `TypedQueue refuses this record: ${error.message}`;
        return result;
      }
      handles.push(queue);
      live.handles.add(queue);
      result.capacityRecords = queueCapacity(size);
    } else if (transport.kind === 'unix') {
      cfg.path = socketPath();
      files.push(cfg.path);
    }

    const consumer = startChild({ ...cfg, role: 'consumer' }, transport.serialization ?? 'json');
    children.push(consumer);
    await consumer.expect('ready', 30_000);
    let producer;
    let produce;
    if (transport.kind === 'ipc') {
      produce = ipcProducer(consumer.child, transport.serialization, size);
    } else {
      producer = startChild({ ...cfg, role: 'producer' });
      children.push(producer);
      await producer.expect('ready', 30_000);
    }

    let previousStats;
    for (const [run, count] of plan.entries()) {
      consumer.send({ ctl: 'arm', run, count });
      await consumer.expect('armed');
      let produced;
      if (producer) {
        producer.send({ ctl: 'go', run, count });
        produced = producer.expect('sent');
      } else {
        produced = produce(count);
      }
      const [timing] = await Promise.all([consumer.expect('result'), produced]);
      const seconds = (timing.t1 - timing.t0) / 1000;
      const msgsPerSec = (count - 1) / seconds;
      const measured = { count, seconds, msgsPerSec, MBps: (msgsPerSec * size) / 1e6 };
      if (timing.stats) {
        // The header's counters are cumulative: keep this run's share of parks and wakes.
        measured.stats = Object.fromEntries(
          ['consumerParks', 'consumerWakes', 'producerParks', 'producerWakes'].map((key) => [
            key,
            timing.stats[key] - (previousStats?.[key] ?? 0),
          ]),
        );
        previousStats = timing.stats;
      }
      if (run === 0) result.warmup = measured;
      else result.runs.push(measured);
      progress(
        `  ${transport.label} ${sizeLabel(size)} ${run === 0 ? 'warm-up' : `run ${run}/${plan.length - 1}`}: ` +
          `${rate(msgsPerSec)} msg/s, ${fixed(measured.MBps)} MB/s` +
          (measured.stats
            ? ` (consumer parks ${measured.stats.consumerParks}, wakes ${measured.stats.consumerWakes}; ` +
              `producer parks ${measured.stats.producerParks}, wakes ${measured.stats.producerWakes})`
            : ''),
      );
    }
    result.msgsPerSec = spread(result.runs.map((r) => r.msgsPerSec));
    result.MBps = spread(result.runs.map((r) => r.MBps));
  } catch (error) {
    result.error = error.message;
    progress(`  ${transport.label} ${sizeLabel(size)} FAILED: ${error.message}`);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    release({ handles, names, files });
  }
  return result;
}

// ------------------------------------------------------------ wake-up latency

const LATENCY_MODES = ['ring-park', 'ring-spin', 'futex'];
const LATENCY_LABELS = {
  'ring-park': '(a) 2 SPSC rings, spinUs 0',
  'ring-spin': '(b) 2 SPSC rings, default spin',
  futex: '(c) bare futex',
};

/** taskset(1), to place the two ends of a ping-pong on one vCPU or on two: where they land decides a blocking round trip. */
const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((path) => existsSync(path));

function placements() {
  if (!TASKSET || availableParallelism() < 2) return [{ id: 'unpinned', label: 'unpinned', cpus: [] }];
  return [
    { id: 'cross', label: 'across vCPUs (taskset 0 | 1)', cpus: [0, 1] },
    { id: 'same', label: 'one vCPU (taskset 1 | 1)', cpus: [1, 1] },
  ];
}

async function runLatency(mode, rounds, placement) {
  const warm = Math.max(100, Math.round(rounds / 10));
  const names = [];
  const handles = [];
  const children = [];
  const result = { mode, placement: placement.id, rounds, warm };
  try {
    const cfg = { mode, rounds, warm };
    if (mode === 'futex') {
      cfg.name = shmName();
      names.push(cfg.name);
      const shm = SharedMemory.create(cfg.name, { size: 128 });
      handles.push(shm);
    } else {
      cfg.names = [shmName(), shmName()];
      names.push(...cfg.names);
      for (const name of cfg.names) handles.push(RingBuffer.create(name, { capacityBytes: 1 << 16 }));
      if (mode === 'ring-park') cfg.spinUs = 0;
    }
    for (const handle of handles) live.handles.add(handle);
    const echo = startChild({ ...cfg, role: 'echo' }, 'json', placement.cpus[1]);
    children.push(echo);
    const ping = startChild({ ...cfg, role: 'ping' }, 'json', placement.cpus[0]);
    children.push(ping);
    await Promise.all([echo.expect('ready', 30_000), ping.expect('ready', 30_000)]);
    ping.send({ ctl: 'go' });
    const { samples } = await ping.expect('samples');
    await echo.expect('done');
    const sorted = Float64Array.from(samples).sort();
    result.p50 = percentile(sorted, 50);
    result.p90 = percentile(sorted, 90);
    result.p99 = percentile(sorted, 99);
    result.p999 = percentile(sorted, 99.9);
    result.min = sorted[0];
    result.max = sorted[sorted.length - 1];
    result.mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    if (mode !== 'futex') {
      const stats = handles[0].stats();
      result.ringStats = { consumerParks: stats.consumerParks, consumerWakes: stats.consumerWakes };
    }
    result.samplesUs = samples;
    progress(`  latency ${mode}, ${placement.label}: p50 ${fixed(result.p50)} µs, p99 ${fixed(result.p99)} µs`);
  } catch (error) {
    result.error = error.message;
    progress(`  latency ${mode}, ${placement.label} FAILED: ${error.message}`);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    release({ handles, names });
  }
  return result;
}

// ------------------------------------------------------------ idle cost of a parked consumer

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** utime+stime of the whole process (clock ticks) and the sum of every thread's schedstat run time (ns). */
function cpuOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return { ticks, ns };
}

async function runIdle() {
  const names = [];
  const handles = [];
  let child;
  const result = {};
  try {
    const name = shmName();
    names.push(name);
    const ring = RingBuffer.create(name, { capacityBytes: 1 << 16 });
    handles.push(ring);
    live.handles.add(ring);
    child = startChild({ role: 'idle', name });
    await child.expect('ready', 30_000);
    child.send({ ctl: 'park' });
    await child.expect('parking');
    await sleep(200); // let it reach the futex
    const before = cpuOf(child.pid);
    const parksBefore = ring.stats().consumerParks;
    const t0 = performance.now();
    await sleep(1000);
    const after = cpuOf(child.pid);
    const seconds = (performance.now() - t0) / 1000;
    const message = makeTemplate(64);
    stamp(message, 0, 64, 0);
    if (!ring.tryPush(message)) throw new Error('could not push the wake-up message');
    const woke = await child.expect('woke', 10_000);
    const hz = clockTicks();
    Object.assign(result, {
      parkedSeconds: seconds,
      clockTicksPerSecond: hz,
      cpuMsPerSecond: ((after.ticks - before.ticks) * (1000 / hz)) / seconds,
      schedstatMsPerSecond: (after.ns - before.ns) / 1e6 / seconds,
      consumerParksDuringIdle: ring.stats().consumerParks - parksBefore,
      consumerParks: woke.stats.consumerParks,
      consumerWakes: woke.stats.consumerWakes,
    });
    progress(
      `  idle: ${fixed(result.cpuMsPerSecond, 2)} ms CPU/s (utime+stime), ${fixed(result.schedstatMsPerSecond, 3)} ms/s (schedstat)`,
    );
  } catch (error) {
    result.error = error.message;
    progress(`  idle FAILED: ${error.message}`);
  } finally {
    await child?.stop();
    release({ handles, names });
  }
  return result;
}

// ------------------------------------------------------------ report

function reportTable(cases, memcpy) {
  const find = (id, size) => cases.find((c) => c.transport === id && c.size === size && c.msgsPerSec);
  const rows = [];
  for (const c of cases) {
    const json = find('ipc-json', c.size);
    const unix = find('unix', c.size);
    const copy = memcpy[c.size]?.set.medianGBps;
    if (!c.msgsPerSec) {
      rows.push({
        transport: c.label,
        size: sizeLabel(c.size),
        'msgs/s': c.skipped ? 'skipped (below)' : 'FAILED (below)',
      });
      continue;
    }
    rows.push({
      transport: c.label,
      size: sizeLabel(c.size),
      'msgs/s': rate(c.msgsPerSec.median),
      'MB/s': fixed(c.MBps.median),
      'spread msgs/s': `${rate(c.msgsPerSec.min)}–${rate(c.msgsPerSec.max)}`,
      '×process.send': json ? ratio(c.msgsPerSec.median / json.msgsPerSec.median) : '–',
      '×unix socket': unix ? ratio(c.msgsPerSec.median / unix.msgsPerSec.median) : '–',
      '% memcpy': copy ? `${fixed((c.MBps.median / 1000 / copy) * 100)}%` : '–',
    });
  }
  console.table(rows);
  for (const c of cases) {
    if (c.skipped) console.log(`skipped: ${c.label} ${sizeLabel(c.size)}: ${c.skipped}`);
    else if (c.error) console.log(`FAILED: ${c.label} ${sizeLabel(c.size)}: ${c.error}`);
  }
}

function summary(cases, memcpy, latency, idle) {
  const lines = [];
  const find = (id, size) => cases.find((c) => c.transport === id && c.size === size && c.msgsPerSec);
  lines.push(
    `memcpy in-process, median GB/s — hot Uint8Array.set / set over a ring-sized working set / slice (alloc+copy): ${Object.entries(
      memcpy,
    )
      .map(
        ([size, m]) =>
          `${sizeLabel(Number(size))} ${fixed(m.set.medianGBps, 2)} / ${fixed(m.setRingSized.medianGBps, 2)} / ${fixed(m.slice.medianGBps, 2)}`,
      )
      .join(', ')}`,
  );
  const spsc64 = find('ring-spsc', 64);
  const json64 = find('ipc-json', 64);
  const unix64 = find('unix', 64);
  if (spsc64 && json64 && unix64) {
    const a = spsc64.msgsPerSec.median / json64.msgsPerSec.median;
    const b = spsc64.msgsPerSec.median / unix64.msgsPerSec.median;
    lines.push(
      `target 64 B ring SPSC: ${ratio(a)} process.send json (target ≥ 30×: ${a >= 30 ? 'met' : 'MISSED'}), ` +
        `${ratio(b)} unix socket (target ≥ 10×: ${b >= 10 ? 'met' : 'MISSED'})`,
    );
  }
  const big = 1 << 20;
  if (memcpy[big]) {
    const copy = memcpy[big].set.medianGBps * 1000;
    const copyRingSized = memcpy[big].setRingSized.medianGBps * 1000;
    for (const [id, target] of [
      ['ring-spsc', 25],
      ['ring-spsc-into', 25],
      ['ring-spsc-zc', 50],
      ['ring-mpmc', 25],
      ['typed-queue', 25],
    ]) {
      const c = find(id, big);
      if (!c) continue;
      const pct = (c.MBps.median / copy) * 100;
      lines.push(
        `target 1 MiB ${c.label}: ${fixed(pct)}% of hot memcpy (target ≥ ${target}%: ${pct >= target ? 'met' : 'MISSED'}); ` +
          `${fixed((c.MBps.median / copyRingSized) * 100)}% of memcpy over a ring-sized working set`,
      );
    }
  }
  for (const placement of placements()) {
    const rows = latency.filter((l) => l.placement === placement.id);
    const byMode = Object.fromEntries(rows.map((l) => [l.mode, l]));
    for (const l of rows) {
      lines.push(
        l.error
          ? `wake-up ${LATENCY_LABELS[l.mode]}, ${placement.label}: FAILED: ${l.error}`
          : `wake-up ${LATENCY_LABELS[l.mode]}, ${placement.label}: 64 B round trip p50 ${fixed(l.p50)} µs, ` +
              `p90 ${fixed(l.p90)} µs, p99 ${fixed(l.p99)} µs, p99.9 ${fixed(l.p999)} µs (${l.rounds} rounds` +
              (l.ringStats
                ? `; consumer parks ${l.ringStats.consumerParks}, wakes ${l.ringStats.consumerWakes})`
                : ')'),
      );
    }
    const park = byMode['ring-park'];
    const bare = byMode.futex;
    if (park?.p50 && bare?.p50) {
      const r50 = park.p50 / bare.p50;
      lines.push(
        `wake-up ratio (a) ring park / (c) bare futex, ${placement.label}: p50 ${fixed(r50, 2)}, ` +
          `p99 ${fixed(park.p99 / bare.p99, 2)} (target ≤ 1.5 at p50: ${r50 <= 1.5 ? 'met' : 'MISSED'})`,
      );
    }
  }
  lines.push(
    idle.error
      ? `idle: FAILED: ${idle.error}`
      : `idle: consumer parked in popSync for ${fixed(idle.parkedSeconds, 2)} s used ${fixed(idle.cpuMsPerSecond, 2)} ms CPU/s ` +
          `(utime+stime, ${1000 / idle.clockTicksPerSecond} ms ticks), ${fixed(idle.schedstatMsPerSecond, 3)} ms/s ` +
          `(schedstat, all threads); parks during the idle second: ${idle.consumerParksDuringIdle}, then woken by one push ` +
          `(parks ${idle.consumerParks}, wakes ${idle.consumerWakes})`,
  );
  for (const line of lines) console.log(line);
}

// ------------------------------------------------------------ main

async function main() {
  const options = parseOptions();
  const machine = describeMachine();
  const started = performance.now();
  console.log(machineLine(machine));
  console.log(
    `bench/ring: ${options.sizes.map(sizeLabel).join(', ')}; messages per size ${options.sizes
      .map((s) => messageCount(s, options.quick))
      .join(' / ')} (same for every transport); warm-up 1/10, then ${options.runs} runs; ` +
      `rate = (count - 1) / (last - first message received), timed in the consumer; MB = 10^6 bytes`,
  );
  if (typeof shmkit.TypedQueue !== 'function') {
    console.log("TypedQueue: not exported by 'shmkit' in this build, its rows are skipped");
  }

  progress('memcpy (in-process)...');
  const memcpy = measureMemcpy(options.sizes, options.runs);

  const cases = [];
  for (const size of options.sizes) {
    const count = messageCount(size, options.quick);
    const plan = [Math.max(2, Math.round(count / 10)), ...Array(options.runs).fill(count)];
    for (const transport of options.transports) {
      progress(`${transport.label}, ${sizeLabel(size)} × ${count}...`);
      cases.push(await runCase(transport, size, plan));
    }
  }

  progress('wake-up latency...');
  const latency = [];
  for (const placement of placements()) {
    for (const mode of LATENCY_MODES) latency.push(await runLatency(mode, options.rounds, placement));
  }
  progress('idle parked consumer...');
  const idle = await runIdle();

  console.log('');
  reportTable(cases, memcpy);
  summary(cases, memcpy, latency, idle);
  const seconds = (performance.now() - started) / 1000;
  console.log(`total ${fixed(seconds)} s`);

  if (options.json) {
    const out = { machine, options: { ...options, transports: options.transports.map((t) => t.id) }, seconds };
    Object.assign(out, { memcpy, cases, latency, idle, date: new Date().toISOString() });
    writeFileSync(options.json, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`raw numbers: ${options.json}`);
  }
  const failed = cases.some((c) => c.error) || latency.some((l) => l.error) || idle.error;
  process.exitCode = failed ? 1 : 0;
}

main()
  .catch((error) => {
    console.error(error instanceof RangeError ? error.message : error);
    process.exitCode = 2;
  })
  .finally(cleanupAll);
