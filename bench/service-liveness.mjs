// Two liveness numbers of a shmkit Service (issue 12), reported as measured, never as pass/fail:
//
// (a) the latency of a client's death: this process owns the service; a client in a child
//     process connects and is SIGKILLed; the time from the kill(2) call here to the service's
//     'disconnect' event (reason 'died') here, both read with process.hrtime. Once with the
//     pidfd watch (pidfd_open(2) on shmkit's poll thread), once with SHMKIT_NO_PIDFD=1 (the /proc
//     check every 100 ms of lib/primitives/process-watch.ts). ProcessWatch reads the variable
//     when a connection is accepted, so it is set in this process for the second run; the pidfds
//     this process holds while the clients are connected show which watch served.
// (b) the CPU an idle service costs: a server child with `clients` connected client children,
//     nothing called; utime+stime (clock ticks, /proc/PID/stat) and the schedstat run time (ns,
//     every thread) of each process over a window of `idleMs`, after the connections settled.
//
// Standalone: node bench/service-liveness.mjs [--json] [--kills N] [--batch N] [--clients N]
// [--idle-ms MS] [--settle-ms MS]; its shm names start with SHMKIT_BENCH_PREFIX when set.
// In `shmkit bench`: a full run (not --quick) with the call rows adds it after the calls table.
// The children are this file again, with { role: 'client' | 'server', name } in argv[2].
import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import * as shmkit from 'shmkit';
import { die, listenForControl, send } from './control.mjs';
import { clockTicks, cpuOf } from './cpu.mjs';
import { forkChild } from './fork.mjs';
import { failure } from './message.mjs';

const SELF = fileURLToPath(import.meta.url);

export const LIVENESS_DEFAULTS = {
  /** Clients SIGKILLed per watch (pidfd, /proc fallback). */
  kills: 50,
  /** Clients connected at once in (a): each batch is forked together, then killed one by one. */
  batch: 10,
  /** Connected clients of the idle server in (b). */
  clients: 16,
  /** The idle window of (b), ms. */
  idleMs: 2000,
  /**
   * Between the last connection and the idle window, ms: fresh Node processes finish their
   * start-up work (V8's compiler and GC threads) meanwhile; 300 ms was not enough on a loaded
   * 2-core machine (a few ms of client CPU left in the window), 1 s was.
   */
  settleMs: 1000,
};

/** The p-th percentile (nearest rank) of `values`. */
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** { p50Ms, p99Ms, minMs, maxMs, meanMs } of samples in ms. */
export function latencyStats(samplesMs) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    minMs: sorted[0],
    maxMs: sorted.at(-1),
    meanMs: sorted.reduce((sum, v) => sum + v, 0) / sorted.length,
  };
}

/** The pidfds this process holds (readlink of /proc/self/fd/*: 'anon_inode:[pidfd]'). */
function pidfdsHeld() {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[pidfd]') count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/** Removes service `name`'s header and every ring named under it from /dev/shm (a killed server leaves them). */
function removeService(name) {
  const base = name.slice(1);
  for (const entry of readdirSync('/dev/shm')) {
    if (entry === base || entry.startsWith(`${base}.`)) rmSync(`/dev/shm/${entry}`, { force: true });
  }
}

/** A client child, connected (its 'ready' comes after the WELCOME). */
async function startClient(res, name) {
  const child = forkChild(SELF, res.children, { role: 'client', name });
  await child.expect('ready', 30_000);
  return child;
}

/** Runs `fn` with SHMKIT_NO_PIDFD set to `value` (undefined: unset) in this process. */
async function withNoPidfd(value, fn) {
  const saved = process.env.SHMKIT_NO_PIDFD;
  if (value === undefined) delete process.env.SHMKIT_NO_PIDFD;
  else process.env.SHMKIT_NO_PIDFD = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.SHMKIT_NO_PIDFD;
    else process.env.SHMKIT_NO_PIDFD = saved;
  }
}

/** (a) for one watch: `kills` clients SIGKILLed, each kill(2) → 'disconnect' ('died') in ms. */
async function killLatency(res, watch, { kills, batch }) {
  const row = { watch, kills, status: 'ok' };
  const name = res.name();
  res.track(() => removeService(name));
  return withNoPidfd(watch === 'pidfd' ? undefined : '1', async () => {
    const svc = shmkit.Service.create(name, { maxClients: batch });
    svc.handle('ping', () => 'pong');
    let onDisconnect;
    svc.on('disconnect', (conn, reason) => onDisconnect?.(conn, reason, process.hrtime.bigint()));
    await svc.listen();
    const baseline = pidfdsHeld();
    const samplesMs = [];
    const exitSamplesMs = [];
    let pidfds = 0;
    try {
      while (samplesMs.length < kills) {
        const n = Math.min(batch, kills - samplesMs.length);
        const clients = await Promise.all(Array.from({ length: n }, () => startClient(res, name)));
        pidfds = Math.max(pidfds, pidfdsHeld() - baseline);
        for (const client of clients) {
          const died = new Promise((resolve, reject) => {
            onDisconnect = (conn, reason, at) => {
              if (conn.pid !== client.pid || reason !== 'died')
                reject(new Error(`disconnect of pid ${conn.pid} (${reason}), expected pid ${client.pid} (died)`));
              else resolve(at);
            };
          });
          const exited = new Promise((resolve) => client.child.once('exit', () => resolve(process.hrtime.bigint())));
          const t0 = process.hrtime.bigint();
          process.kill(client.pid, 'SIGKILL');
          const at = await Promise.race([died, sleep(10_000).then(() => Promise.reject(new Error('no disconnect')))]);
          samplesMs.push(Number(at - t0) / 1e6);
          exitSamplesMs.push(Number((await exited) - t0) / 1e6);
        }
      }
    } catch (error) {
      return { ...row, ...failure(error) };
    } finally {
      onDisconnect = undefined;
      await svc.close({ drainTimeoutMs: 0 });
    }
    // One pidfd per connection with the pidfd watch; none with the fallback.
    if (watch === 'pidfd' && pidfds === 0) {
      return { ...row, status: 'skipped', reason: 'pidfd_open(2) is not available here: the /proc fallback served' };
    }
    if (watch !== 'pidfd' && pidfds > 0) {
      return { ...row, status: 'failed', reason: `SHMKIT_NO_PIDFD=1 was not in force (${pidfds} pidfds held)` };
    }
    // The reference: kill(2) → the child's 'exit' event (libuv's SIGCHLD) in the same loop, same load.
    const exit = latencyStats(exitSamplesMs);
    return {
      ...row,
      pidfdsHeld: pidfds,
      ...latencyStats(samplesMs),
      exitP50Ms: exit.p50Ms,
      exitP99Ms: exit.p99Ms,
      samplesMs,
    };
  });
}

/** (b): an idle server child with `clients` connected client children; each one's CPU over `idleMs`. */
async function idleCost(res, { clients, idleMs, settleMs }) {
  const row = { clients, status: 'ok' };
  const name = res.name();
  res.track(() => removeService(name));
  const children = [];
  try {
    const server = forkChild(SELF, res.children, { role: 'server', name, maxClients: clients });
    children.push(server);
    await server.expect('ready', 30_000);
    children.push(...(await Promise.all(Array.from({ length: clients }, () => startClient(res, name)))));
    await sleep(settleMs);
    const before = children.map((child) => cpuOf(child.pid));
    const t0 = performance.now();
    await sleep(idleMs); // the measurement window, not a wait for the other side
    const after = children.map((child) => cpuOf(child.pid));
    const seconds = (performance.now() - t0) / 1000;
    const hz = clockTicks();
    const cost = (k) => ({
      cpuMs: (after[k].ticks - before[k].ticks) * (1000 / hz),
      schedMs: (after[k].ns - before[k].ns) / 1e6,
    });
    const perClient = children.slice(1).map((_, k) => cost(k + 1));
    const worst = (key) => Math.max(...perClient.map((c) => c[key]));
    Object.assign(row, {
      settleMs,
      windowMs: seconds * 1000,
      clockTicksPerSecond: hz,
      server: cost(0),
      clientMaxCpuMs: worst('cpuMs'),
      clientMaxSchedMs: worst('schedMs'),
      clientsTotalSchedMs: perClient.reduce((sum, c) => sum + c.schedMs, 0),
      perClient,
    });
  } catch (error) {
    Object.assign(row, failure(error));
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
  return row;
}

/**
 * Both measurements. res: { name() (a fresh shm name), track(undo), children (a Set) } — the
 * harness's resources, or makeResources() below. Returns { status, disconnect: [pidfd row,
 * /proc fallback row], idle }; status 'failed' when any part failed (never on the numbers).
 */
export async function serviceLivenessCase(res, options = {}) {
  const opts = { ...LIVENESS_DEFAULTS, ...options };
  const row = { primitive: 'svc-liveness', label: 'shmkit Service liveness', status: 'ok', loadAverage: loadavg() };
  if (!shmkit.capabilities.futex || process.platform !== 'linux') {
    return { ...row, status: 'skipped', reason: 'needs futex(2) and /proc (Linux)' };
  }
  const disconnect = [];
  for (const watch of ['pidfd', '/proc fallback']) disconnect.push(await killLatency(res, watch, opts));
  const idle = await idleCost(res, opts);
  const failed = [...disconnect, idle].find((part) => part.status.startsWith('failed'));
  if (failed) Object.assign(row, { status: failed.status, reason: failed.reason });
  return { ...row, disconnect, idle };
}

// ------------------------------------------------------------ the report (here and in bench/report.mjs)

/** The columns of the kill table: one row per watch. */
export const LIVENESS_HEAD = [
  'watch',
  'kills',
  'p50 ms',
  'p99 ms',
  'max ms',
  "child 'exit' p50 ms",
  "child 'exit' p99 ms",
];

const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');

/** The kill table's rows; a skipped or failed watch says why. */
export function livenessRows(result) {
  return (result.disconnect ?? []).map((d) =>
    d.status === 'ok'
      ? [d.watch, d.kills, ms(d.p50Ms), ms(d.p99Ms), ms(d.maxMs), ms(d.exitP50Ms), ms(d.exitP99Ms)]
      : [d.watch, `${d.status}: ${d.reason}`, '', '', '', '', ''],
  );
}

/** The sentence above the kill table. */
export function livenessTitle(result) {
  const load = result.loadAverage?.map((v) => v.toFixed(2)).join(' ') ?? '–';
  return (
    "Service liveness: SIGKILL of a client → the service's 'disconnect' ('died'), from kill(2) to the event in the " +
    `service's process; the child's 'exit' event (SIGCHLD) beside it; measured, not judged (load average ${load}):`
  );
}

/** The idle service in one sentence. */
export function livenessIdleLine(result) {
  const idle = result.idle;
  if (!idle) return `service liveness: ${result.status}: ${result.reason}`;
  if (idle.status !== 'ok') return `idle service: ${idle.status}: ${idle.reason}`;
  return (
    `idle service with ${idle.clients} connected clients, ${ms(idle.windowMs / 1000)} s: the server used ` +
    `${ms(idle.server.cpuMs)} ms CPU (utime+stime, ${ms(1000 / idle.clockTicksPerSecond)} ms ticks; schedstat ` +
    `${ms(idle.server.schedMs)} ms), each client at most ${ms(idle.clientMaxCpuMs)} ms (schedstat at most ` +
    `${ms(idle.clientMaxSchedMs)} ms, all clients ${ms(idle.clientsTotalSchedMs)} ms)`
  );
}

/** The terminal text: the title, the kill table, the idle line. */
export function livenessText(result) {
  if (result.status === 'skipped') return `service liveness: skipped: ${result.reason}`;
  const table = new Table({ head: LIVENESS_HEAD, style: { head: [], border: [], compact: true } });
  for (const row of livenessRows(result)) table.push(row);
  return [livenessTitle(result), table.toString(), livenessIdleLine(result)].join('\n');
}

/** Standalone resources: fresh names under one prefix, undo steps, the children. */
function makeResources() {
  const prefix = process.env.SHMKIT_BENCH_PREFIX ?? `shmkit-liveness-${process.pid}-`;
  let serial = 0;
  const undo = [];
  const children = new Set();
  return {
    name: () => `/${prefix}${serial++}`,
    track: (fn) => undo.push(fn),
    children,
    releaseAll() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const fn of undo.splice(0).reverse()) {
        try {
          fn();
        } catch {
          // already gone
        }
      }
    },
  };
}

/** argv → options: --json, --kills N, --clients N, --idle-ms MS, --batch N, --settle-ms MS. */
function parseArgs(argv) {
  const options = {};
  let json = false;
  const numeric = {
    '--kills': 'kills',
    '--clients': 'clients',
    '--idle-ms': 'idleMs',
    '--batch': 'batch',
    '--settle-ms': 'settleMs',
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') json = true;
    else if (argv[i] in numeric) {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${argv[i - 1]} must be a positive integer`);
      options[numeric[argv[i - 1]]] = value;
    } else throw new RangeError(`unknown argument ${argv[i]}`);
  }
  return { json, options };
}

// ------------------------------------------------------------ the children and the command

async function child(cfg) {
  listenForControl();
  try {
    if (cfg.role === 'server') {
      const svc = shmkit.Service.create(cfg.name, { maxClients: cfg.maxClients });
      svc.handle('ping', () => 'pong');
      await svc.listen();
    } else {
      const client = await shmkit.Client.connect(cfg.name, { timeoutMs: 30_000 });
      await client.call('ping');
    }
    await send({ ctl: 'ready' });
  } catch (error) {
    die(error);
  }
}

async function main() {
  const { json, options } = parseArgs(process.argv.slice(2));
  const res = makeResources();
  process.on('exit', () => res.releaseAll());
  const result = await serviceLivenessCase(res, options);
  res.releaseAll();
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${livenessText(result)}\n`);
  if (result.status.startsWith('failed')) process.exitCode = 1;
}

if (process.argv[1] === SELF) {
  const cfg = process.argv[2]?.startsWith('{') ? JSON.parse(process.argv[2]) : undefined;
  if (cfg) await child(cfg);
  else await main();
}
