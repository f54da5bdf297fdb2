// The call rows of `shmkit bench` (--payload call): request/response between
// two processes. The server is a child process (bench/call-server.mjs) with one
// method, add({ a, b }) → a + b; the client is this process (the harness), and
// it checks every answer. Three rows do the same work: a shmkit Service/Client
// (msgpack), JSON-RPC over a Unix socket (newline-delimited JSON, id-matched)
// and id-matched process.send. Each row is measured twice: pipelined (the
// client keeps CALL_WINDOW calls in flight; calls/s) and sequential (one call
// at a time; round-trip percentiles). See docs/benchmarks.md, "The call rows".
import { once } from 'node:events';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as shmkit from 'shmkit';
import { cpuOf } from './cpu.mjs';
import { forkChild } from './fork.mjs';
import { spread } from './format.mjs';
import { percentilesUs } from './histogram.mjs';
import { failure, VerificationError } from './message.mjs';
import { pinSelf, TASKSET } from './placement.mjs';
import { measureSteady, STEADY } from './steady.mjs';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), 'call-server.mjs');

/** Calls the pipelined client keeps in flight. */
export const CALL_WINDOW = 64;
/** The baseline of the call rows: every call ratio is to it. */
export const CALL_BASELINE = 'ipc-rpc';
/** Calls per pipelined run at least (steady mode), and exactly (--quick without --count). */
export const CALL_COMMON = 10_000;
/** A call left without an answer this long (ms) while the client waits is lost: the row fails. */
export const CALL_STALL_MS = 5000;

// ------------------------------------------------------------ the call

/** The second operand of call `a` (a u32 counting up): the server cannot guess it from a. */
export function operandB(a) {
  return (Math.imul(a, 7) + 3) & 0xffff;
}

/** Throws a VerificationError unless `r` is the answer to add({ a, b: operandB(a) }). */
export function verifyAnswer(r, a) {
  const expected = a + operandB(a);
  if (r !== expected) {
    throw new VerificationError(
      `call ${a}: add(${a}, ${operandB(a)}) answered ${JSON.stringify(r)}, expected ${expected}`,
    );
  }
}

/**
 * Test hook, the server's side (docs/benchmarks.md, Test hooks): SHMKIT_BENCH_DROP=<id> makes
 * the server of row <id> never answer call 2 (a lost answer); <id>:wrong makes it answer call 2
 * with a + b + 1. Either must fail the row. Returns (a) → 'drop' | 'wrong' | undefined.
 */
export function answerHook(primitiveId) {
  const tokens = (process.env.SHMKIT_BENCH_DROP ?? '').split(',');
  let mode = tokens.includes(primitiveId) ? 'drop' : tokens.includes(`${primitiveId}:wrong`) ? 'wrong' : undefined;
  return (a) => {
    if (mode === undefined || a !== 2) return undefined;
    const m = mode;
    mode = undefined;
    return m;
  };
}

// ------------------------------------------------------------ catalog

const call = { payload: 'call', format: 'call' };

/** The call rows, in the shape of bench/transports.mjs's catalog. `ipc-rpc` is the baseline of every call ratio. */
export const CALL_PRIMITIVES = [
  {
    id: 'ipc-rpc',
    label: 'process.send RPC',
    group: 'node',
    kind: 'ipc-rpc',
    ...call,
    api: "id-matched child.send({ id, a, b }) / process.send({ id, r }), serialization 'json' (the calls' baseline)",
  },
  {
    id: 'uds-rpc',
    label: 'Unix socket JSON-RPC',
    group: 'node',
    kind: 'uds-rpc',
    ...call,
    api: 'JSON-RPC 2.0 over a Unix socket (net): newline-delimited, id-matched, writes corked per tick',
  },
  {
    id: 'svc',
    label: 'shmkit Service',
    group: 'shmkit',
    kind: 'svc',
    ...call,
    api: "Service.handle('add', ({ a, b }) => a + b) / Client.call('add', { a, b }), codec 'msgpack'",
  },
];

// ------------------------------------------------------------ the clients (this process)

/** Pending calls by id: resolves each answer to its call, whatever the order. */
function pendingTable() {
  const pending = new Map();
  let nextId = 0;
  return {
    add(resolve, reject) {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      return id;
    },
    settle(id, value) {
      const p = pending.get(id);
      if (!p) throw new VerificationError(`an answer to call id ${id}, which is not pending`);
      pending.delete(id);
      p.resolve(value);
    },
    failAll(error) {
      for (const p of pending.values()) p.reject(error);
      pending.clear();
    },
  };
}

/** process.send RPC: { id, a, b } to the server child, { id, r } back (its onData). */
function ipcRpcClient(server) {
  const table = pendingTable();
  return {
    onData(message) {
      table.settle(message?.id, message?.r);
    },
    call(a, b) {
      return new Promise((resolve, reject) => {
        const id = table.add(resolve, reject);
        server.child.send({ id, a, b });
      });
    },
    fail: (error) => table.failAll(error),
    close() {},
  };
}

/** JSON-RPC 2.0 over a Unix socket, one request or response per line; the writes of one tick in one corked batch. */
async function udsRpcClient(path, fail) {
  const socket = net.connect(path);
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  const table = pendingTable();
  let rest = '';
  socket.on('data', (chunk) => {
    const text = rest + chunk;
    let start = 0;
    try {
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        const response = JSON.parse(text.slice(start, nl));
        start = nl + 1;
        if (response.error) throw new Error(`JSON-RPC error ${JSON.stringify(response.error)}`);
        table.settle(response.id, response.result);
      }
    } catch (error) {
      fail(error);
      socket.destroy();
      return;
    }
    rest = text.slice(start);
  });
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('the server closed the socket')));
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return {
    call(a, b) {
      return new Promise((resolve, reject) => {
        const id = table.add(resolve, reject);
        if (!corked) {
          corked = true;
          socket.cork();
          process.nextTick(uncork);
        }
        socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method: 'add', params: { a, b } })}\n`);
      });
    },
    fail: (error) => table.failAll(error),
    close: () => socket.destroy(),
  };
}

/** shmkit: Client.call('add', { a, b }). */
async function svcClient(name) {
  const client = await shmkit.Client.connect(name, { timeoutMs: 30_000 });
  return {
    call: (a, b) => client.call('add', { a, b }),
    fail() {},
    close: () => client.close(),
  };
}

// ------------------------------------------------------------ the two measurements

/**
 * Fails with a VerificationError when calls are pending and none has been answered for
 * CALL_STALL_MS (a lost answer never settles its call). progress() marks an answer; returns
 * { progress, lost: a promise that rejects then, stop() }.
 */
function stallWatch(describe) {
  let last = performance.now();
  let reject;
  const lost = new Promise((_, r) => {
    reject = r;
  });
  lost.catch(() => {});
  const timer = setInterval(() => {
    if (performance.now() - last > CALL_STALL_MS) {
      reject(new VerificationError(`${describe()}: no answer within ${CALL_STALL_MS} ms (lost)`));
    }
  }, 250);
  return {
    progress: () => {
      last = performance.now();
    },
    lost,
    stop: () => clearInterval(timer),
  };
}

/**
 * `count` calls add({ a: first + i, b }) with CALL_WINDOW in flight, each answer checked;
 * resolves with the seconds from the first call to the last answer.
 */
function pipelined(client, first, count, guard) {
  // The calls not answered yet, to name the first one when an answer is lost.
  const open = new Set();
  const watch = stallWatch(() => `call ${Math.min(...open)} (of ${open.size} pending)`);
  const done = new Promise((resolve, reject) => {
    let next = 0;
    let answered = 0;
    const t0 = performance.now();
    const issue = () => {
      const a = (first + next++) >>> 0;
      open.add(a);
      client.call(a, operandB(a)).then((r) => {
        open.delete(a);
        try {
          verifyAnswer(r, a);
        } catch (error) {
          reject(error);
          return;
        }
        watch.progress();
        if (++answered === count) resolve((performance.now() - t0) / 1000);
        else if (next < count) issue();
      }, reject);
    };
    for (let i = 0; i < Math.min(CALL_WINDOW, count); i++) issue();
  });
  return Promise.race([done, watch.lost, guard]).finally(watch.stop);
}

/** `rounds` sequential calls from `first` (stopping after maxMs once 100 are done); resolves with their round trips, ns. */
async function sequential(client, first, rounds, maxMs, guard) {
  let a = first;
  const watch = stallWatch(() => `call ${a}`);
  const samples = [];
  const started = performance.now();
  try {
    for (let i = 0; i < rounds; i++) {
      a = (first + i) >>> 0;
      const t0 = process.hrtime.bigint();
      const r = await Promise.race([client.call(a, operandB(a)), watch.lost, guard]);
      samples.push(Number(process.hrtime.bigint() - t0));
      verifyAnswer(r, a);
      watch.progress();
      if (samples.length >= 100 && performance.now() - started > maxMs) break;
    }
  } finally {
    watch.stop();
  }
  return samples;
}

// ------------------------------------------------------------ one case

/** Starts the server child of `prim` and connects this process to it: { client, server, guard }. */
async function connect(res, prim, placement, onDataRef) {
  const cfg = { role: 'server', primitive: prim.id };
  if (prim.kind === 'svc') cfg.name = res.name();
  if (prim.kind === 'uds-rpc') cfg.path = res.path('.sock');
  const pin = placement.cpus ? { cpu: placement.cpus[1], tasksetPath: TASKSET } : {};
  const server = forkChild(SERVER, res.children, cfg, { onData: (m) => onDataRef.fn(m), ...pin });
  await server.expect('ready', 30_000);
  const guard = server.dead;
  let client;
  if (prim.kind === 'ipc-rpc') {
    client = ipcRpcClient(server);
    onDataRef.fn = (m) => {
      try {
        client.onData(m);
      } catch (error) {
        onDataRef.failure(error);
      }
    };
  } else if (prim.kind === 'uds-rpc') {
    client = await udsRpcClient(cfg.path, (error) => onDataRef.failure(error));
  } else {
    client = await svcClient(cfg.name);
  }
  return { client, server, guard };
}

/** Closes the client (a shmkit client says goodbye), then kills the server. */
async function hangUp(ends) {
  if (!ends) return;
  try {
    await ends.client.close();
  } catch {
    // the server may be gone already
  }
  await ends.server.stop();
}

function baseRow(prim, placement) {
  return {
    primitive: prim.id,
    label: prim.label,
    group: prim.group,
    placement: placement.id,
    window: CALL_WINDOW,
    status: 'ok',
  };
}

/** A promise that rejects with the first protocol failure the client reports. */
function failureRef() {
  const ref = { fn: () => {} };
  ref.failed = new Promise((_, reject) => {
    ref.failure = reject;
  });
  ref.failed.catch(() => {});
  return ref;
}

/**
 * Runs `measure(ends, guard)` against a fresh pair of ends for `prim` (this process pinned
 * to the placement's first CPU, if any), and returns `row`, marked failed if anything threw;
 * the ends are hung up and the pin undone either way. `guard` rejects when an end fails.
 */
async function withCallEnds(res, prim, placement, row, measure) {
  const ref = failureRef();
  let unpin = () => {};
  let ends;
  try {
    if (placement.cpus) unpin = pinSelf(placement.cpus[0]);
    ends = await connect(res, prim, placement, ref);
    await measure(ends, Promise.race([ends.guard, ref.failed]));
  } catch (error) {
    Object.assign(row, failure(error));
  } finally {
    unpin();
    await hangUp(ends);
  }
  return row;
}

/**
 * The pipelined case of one call row: a warm-up (--quick: one run of a tenth of the count;
 * else windows until the rate is stable, bench/steady.mjs), then options.repeat runs sized
 * like the throughput rows' (CALL_COMMON calls at least, --duration seconds). Row: runs,
 * count, callsPerSec (spread, as msgsPerSec), clientCpuUs and serverCpuUs (µs of CPU per call
 * of this process and of the server's, all threads, /proc/PID/task/TID/schedstat).
 */
export async function callThroughputCase(res, prim, options, progress = {}) {
  const row = { ...baseRow(prim, options.placement), runs: [] };
  return withCallEnds(res, prim, options.placement, row, async (ends, guard) => {
    let a = 0;
    const serverPid = ends.server.child.pid;
    const runOnce = async (n) => {
      // CPU of each process (every thread's run time, schedstat): what one call costs each side.
      const client0 = cpuOf(process.pid).ns;
      const server0 = cpuOf(serverPid).ns;
      const seconds = await pipelined(ends.client, a, n, guard);
      const clientUs = (cpuOf(process.pid).ns - client0) / 1000 / n;
      const serverUs = (cpuOf(serverPid).ns - server0) / 1000 / n;
      a = (a + n) >>> 0;
      return { seconds, clientUs, serverUs };
    };
    const step = (text) => progress.step?.(`${prim.label} calls ${text}`);
    const measured = await measureSteady(runOnce, { common: CALL_COMMON, options, step });
    row.warmup = { calls: measured.warmup.count, seconds: measured.warmup.seconds };
    if (measured.stable !== undefined) row.stable = measured.stable;
    row.count = measured.count;
    if (measured.reduced) row.reduced = true;
    for (const { seconds, clientUs, serverUs } of measured.runs) {
      row.runs.push({ count: measured.count, seconds, callsPerSec: measured.count / seconds, clientUs, serverUs });
    }
    row.callsPerSec = spread(row.runs.map((r) => r.callsPerSec));
    row.clientCpuUs = spread(row.runs.map((r) => r.clientUs));
    row.serverCpuUs = spread(row.runs.map((r) => r.serverUs));
  });
}

/**
 * The sequential case of one call row: one call at a time, options.repeat runs of
 * options.rounds round trips (a run also stops after --duration, at least 1 s, once it has
 * 100), after a warm-up of a tenth of the rounds (and STEADY.latencyWarmSeconds unless --quick).
 */
export async function callLatencyCase(res, prim, options, progress = {}) {
  const row = baseRow(prim, options.placement);
  delete row.window;
  return withCallEnds(res, prim, options.placement, row, async (ends, guard) => {
    const maxMs = Math.max(1, options.duration) * 1000;
    const warm = Math.max(20, Math.round(options.rounds / 10));
    let a = 0;
    const loop = async (rounds) => {
      const samples = await sequential(ends.client, a, rounds, maxMs, guard);
      a = (a + samples.length) >>> 0;
      return samples;
    };
    progress.step?.(`${prim.label} sequential calls warm-up`);
    await loop(warm);
    const warmMs = options.quick ? 0 : STEADY.latencyWarmSeconds * 1000;
    for (const t = performance.now(); performance.now() - t < warmMs; ) await loop(warm);
    const runs = [];
    for (let run = 1; run <= options.repeat; run++) {
      progress.step?.(`${prim.label} sequential calls run ${run}/${options.repeat}`);
      runs.push(await loop(options.rounds));
    }
    Object.assign(row, percentilesUs(runs));
  });
}

/**
 * The call rows' ratios, to CALL_BASELINE: calls/s ÷ its calls/s (pipelined), its p50 ÷ the p50
 * (sequential); higher is faster. Also each row's ratios to uds-rpc (the issue's targets are
 * stated against both baselines): ofUds.
 */
export function addCallRatios(calls, callLatency) {
  const rate = (id) => calls.find((r) => r.primitive === id && r.callsPerSec)?.callsPerSec.median;
  const p50 = (id) => callLatency.find((r) => r.primitive === id && r.p50Us)?.p50Us;
  for (const row of calls) {
    if (!row.callsPerSec) continue;
    if (rate(CALL_BASELINE)) row.ratio = row.callsPerSec.median / rate(CALL_BASELINE);
    if (rate('uds-rpc')) row.ofUds = row.callsPerSec.median / rate('uds-rpc');
  }
  for (const row of callLatency) {
    if (!row.p50Us) continue;
    if (p50(CALL_BASELINE)) row.ratio = p50(CALL_BASELINE) / row.p50Us;
    if (p50('uds-rpc')) row.ofUds = p50('uds-rpc') / row.p50Us;
  }
}
