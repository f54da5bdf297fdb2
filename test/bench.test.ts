/**
 * `shmkit bench` (docs/benchmarks.md), run as the built CLI (dist/tooling/cli/main.js)
 * on tiny counts: every primitive runs and verifies what it received, a
 * transport that drops a message is caught (SHMKIT_BENCH_DROP), --json has
 * the documented shape, --wakeup, --crowd, --idle and --ring-capacity add their rows,
 * a primitive the kernel's limits rule out is skipped with its reason, and
 * nothing is left behind.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary as findNatsServer } from '../bench/nats-server.mjs';
import { prerequisite, requireOrSkip, runPrefix } from './helpers.js';

const CLI = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');
const PREFIX = `${runPrefix()}bench-`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix()}bench-out-`));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bench(args: string[], env: Record<string, string> = {}, cli = CLI): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        cli,
        'bench',
        ...(args.includes('--progress') ? args.filter((a) => a !== '--progress') : ['--no-progress', ...args]),
      ],
      { timeout: 170_000, env: { ...process.env, SHMKIT_BENCH_PREFIX: PREFIX, ...env }, maxBuffer: 8 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The short smoke-test run: --quick (fixed counts, one short warm-up), tiny counts. */
const TINY = ['--quick', '--count', '200', '--rounds', '50', '--repeat', '1', '--sizes', '64,4k'];

/** The object rows (bench/objects.mjs), in catalog order. */
const OBJECT_IDS = [
  'obj-ipc-json',
  'obj-ipc-advanced',
  'obj-uds',
  'obj-worker',
  'obj-tq-json',
  'obj-tq-v8',
  'obj-tq-msgpack',
  'obj-tq-records',
];

/** The call rows (bench/calls.mjs), in catalog order; ipc-rpc is their baseline. */
const CALL_IDS = ['ipc-rpc', 'uds-rpc', 'svc'];

/** Every call row ran, checked every answer, and has its numbers and ratios (count: pipelined calls per run). */
// biome-ignore lint/suspicious/noExplicitAny: rows of the JSON result
type JsonRow = Record<string, any>;

function expectCalls(result: { calls: JsonRow[]; callLatency: JsonRow[] }, count: number) {
  expect(result.calls.map((r) => r.primitive)).toEqual(CALL_IDS);
  expect(result.callLatency.map((r) => r.primitive)).toEqual(CALL_IDS);
  for (const row of result.calls) {
    expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
    expect(row).toMatchObject({ count, window: 64 });
    expect(row.runs).toHaveLength(1);
    expect(row.callsPerSec.median).toBeGreaterThan(0);
    for (const key of ['ratio', 'ofUds']) expect(typeof row[key]).toBe('number');
    if (row.primitive === 'ipc-rpc') expect(row.ratio).toBe(1);
    if (row.primitive === 'uds-rpc') expect(row.ofUds).toBe(1);
  }
  for (const row of result.callLatency) {
    expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
    expectLatency(row as { p50Us: number; p99Us: number });
    expect(typeof row.ofUds).toBe('number');
  }
}

const FANOUT_IDS = ['fan-ipc', 'fan-uds', 'fan-topic', 'fan-topic-drop', 'fan-topic-drop-1'];

/** The fan-out rows of a run: every row at 64 B and 64 KiB, each subscriber got every message it counts. */
function expectFanout(result: { fanout: JsonRow[] }, count: number) {
  const cases = result.fanout.map((r) => `${r.primitive}@${r.size}`);
  expect(cases.sort()).toEqual(FANOUT_IDS.flatMap((id) => [`${id}@64`, `${id}@65536`]).sort());
  for (const row of result.fanout) {
    expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
    expect(row).toMatchObject({ count, subscribers: row.primitive === 'fan-topic-drop-1' ? 1 : 4 });
    expect(row.runs).toHaveLength(1);
    const run = (row.runs as { delivered: number; skipped: number }[])[0] as { delivered: number; skipped: number };
    // Every subscriber got every message, or (drop-oldest) skipped exactly what it was told.
    expect(run.delivered + run.skipped).toBe(count * (row.subscribers as number));
    if (!String(row.primitive).includes('drop')) expect(run.skipped).toBe(0);
    expect(row.publisherCpuUs.median).toBeGreaterThan(0);
    expect(typeof row.ratio).toBe('number');
    expect(typeof row.ofUds).toBe('number');
    if (row.primitive === 'fan-topic-drop') expect(typeof row.cpuOfOne).toBe('number');
  }
}

/** A latency row's percentiles (µs, the field names say so). */
function expectLatency(row: { p50Us: number; p99Us: number; [key: string]: unknown }): void {
  for (const key of ['p50Us', 'p90Us', 'p99Us', 'p999Us', 'maxUs', 'rounds', 'ratio'])
    expect(typeof row[key]).toBe('number');
  expect(row.p50Us).toBeLessThanOrEqual(row.p99Us);
}

/** A ring row's split of its round trips into spun and parked (bench/waits.mjs). */
interface Waits {
  rounds: number;
  spun: number;
  pingerParked: number;
  echoParked: number;
  spunPct: number;
}

function expectWaits(row: { rounds: number; waits: Waits }): void {
  const w = row.waits;
  expect(w.rounds).toBe(row.rounds);
  expect(w.spun).toBeGreaterThanOrEqual(0);
  expect(w.spunPct).toBeCloseTo((w.spun / w.rounds) * 100, 9);
  // A round trip that is not spun had at least one side park; each side parks at most once a round trip.
  expect(w.pingerParked + w.echoParked).toBeGreaterThanOrEqual(w.rounds - w.spun);
  expect(Math.max(w.pingerParked, w.echoParked)).toBeLessThanOrEqual(w.rounds - w.spun);
}

/**
 * A copy of the package as a consumer gets it without the optional parts: dist/, bench/,
 * native/ (the C sources) and the addon, every dependency but echarts (and its zrender),
 * and no C tool built. Returns the path of its CLI.
 */
function leanCopy(): string {
  const root = path.join(dir, 'lean');
  const repo = path.join(__dirname, '..');
  fs.mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
  for (const part of ['package.json', 'dist', 'bench', 'native']) {
    fs.cpSync(path.join(repo, part), path.join(root, part), { recursive: true });
  }
  fs.symlinkSync(
    path.join(repo, 'build', 'Release', 'shmkit.node'),
    path.join(root, 'build', 'Release', 'shmkit.node'),
  );
  fs.mkdirSync(path.join(root, 'node_modules'));
  for (const entry of fs.readdirSync(path.join(repo, 'node_modules'))) {
    if (entry === 'echarts' || entry === 'zrender' || entry === '.bin') continue;
    fs.symlinkSync(path.join(repo, 'node_modules', entry), path.join(root, 'node_modules', entry));
  }
  return path.join(root, 'dist', 'tooling', 'cli', 'main.js');
}

/** A PATH with no C compiler on it (the bench's children run process.execPath). */
const NO_COMPILER = { PATH: path.join(dir, 'empty-bin') };

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  const left = ['/dev/shm', '/dev/mqueue', os.tmpdir()].flatMap((d) => {
    try {
      return fs.readdirSync(d).filter((e) => e.includes(PREFIX));
    } catch {
      return [];
    }
  });
  expect(left).toEqual([]);
});

describe('shmkit bench', () => {
  it('runs every primitive, verifies every message, and writes --json of the documented shape', async () => {
    const json = path.join(dir, 'all.json');
    const csv = path.join(dir, 'all.csv');
    const md = path.join(dir, 'all.md');
    const chart = path.join(dir, 'all.svg');
    const run = await bench([...TINY, '--json', json, '--csv', csv, '--md', md, '--chart', chart]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/^machine: .+ cores .+Node v\d+.+shmkit /m);
    expect(run.stdout).toContain('all transports verified');
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(Object.keys(result).sort()).toEqual(
      [
        'crowd',
        'date',
        'idle',
        'latency',
        'limits',
        'machine',
        'objectLatency',
        'objects',
        'ok',
        'calls',
        'callLatency',
        'fanout',
        'nats',
        'options',
        'primitives',
        'schema',
        'seconds',
        'throughput',
        'wakeup',
      ].sort(),
    );
    expect(result.schema).toBe('shmkit-bench/3');
    expect(result.wakeup).toEqual([]);
    expect(result.crowd).toEqual([]);
    expect(result.idle).toBeNull();
    expect(result.nats).toBeNull();
    expect(result.ok).toBe(true);
    expect(Object.keys(result.machine)).toEqual(
      expect.arrayContaining(['cpuModel', 'cores', 'kernel', 'node', 'shmkit']),
    );
    expect(result.options).toMatchObject({ sizes: [64, 4096], repeat: 1, count: 200, baseline: 'ipc-json' });
    expect(result.options).toMatchObject({ ringCapacity: null, wakeup: false, crowd: null, idle: false });
    // The default run carries objects as well as bytes, in a table of their own.
    expect(result.options).toMatchObject({
      payloads: ['bytes', 'object', 'call', 'fanout'],
      objectBaseline: 'obj-ipc-json',
    });
    // ... and calls (bench/calls.mjs), in a table of their own too.
    expect(result.options).toMatchObject({ callBaseline: 'ipc-rpc', callWindow: 64 });
    expectCalls(result, 200);
    expect(run.stdout).toMatch(/^Calls: add\(\{ a, b \}\) → a \+ b, server in a child process/m);
    // ... and fan-out (bench/fanout.mjs): one publisher, 4 subscribers.
    expect(result.options).toMatchObject({ fanoutBaseline: 'fan-ipc', fanoutSubscribers: 4, fanoutSizes: [64, 65536] });
    expectFanout(result, 200);
    expect(run.stdout).toMatch(/^Fan-out: one publisher, 4 subscriber processes/m);
    expect(result.objects.map((r: { primitive: string }) => r.primitive)).toEqual(OBJECT_IDS);
    expect(result.objectLatency.map((r: { primitive: string }) => r.primitive)).toEqual(OBJECT_IDS);
    for (const row of result.objects) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
      expect(row).toMatchObject({ count: 200, size: result.options.objectSize });
      expect(row.msgsPerSec.median).toBeGreaterThan(0);
      expect(typeof row.ratio).toBe('number');
      if (row.primitive === 'obj-ipc-json') expect(row.ratio).toBe(1);
    }
    for (const row of result.objectLatency) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
      expectLatency(row);
    }
    expect(run.stdout).toMatch(/^Objects: one JS object per message \(.+, ~\d+ B as JSON\)/m);
    expect(result.options).toMatchObject({ quick: true, pin: null, steady: null });
    const ids = result.primitives.map((p: { id: string }) => p.id);
    expect(ids).toEqual(expect.arrayContaining(['ring', 'ring-park', 'ring-mpmc', 'tq-records', 'tq-v8', 'sysv']));
    expect(ids).toEqual(expect.arrayContaining(['posix-mq', 'fifo', 'semaphore', 'signals', 'futex', 'ipc-json']));
    expect(ids).toEqual(expect.arrayContaining(['ipc-advanced', 'uds', 'tcp', 'pipe', 'worker', 'c-ring', 'c-pipe']));
    expect(ids).toEqual(expect.arrayContaining(['ring-pop', 'ring-zc', 'memcpy', 'memcpy-ring', 'memcpy-slice']));
    expect(ids).toEqual(expect.arrayContaining(['c-memcpy']));
    expect(ids).not.toContain('ring-spin'); // optional: only when --only names it
    for (const row of result.throughput) {
      expect(Object.keys(row)).toEqual(expect.arrayContaining(['primitive', 'label', 'group', 'size', 'status']));
      // Nothing fails; only a missing C tool (no native build) may be skipped at these sizes (not in CI).
      if (row.status === 'skipped') {
        expect(row.primitive).toMatch(/^c-/);
        prerequisite(false, `the C tool of bench row ${row.primitive} (${row.reason})`);
      } else {
        expect(row.status, `${row.primitive} ${row.size}: ${row.reason}`).toBe('ok');
        expect(row.count).toBe(200);
        expect(row.runs).toHaveLength(1);
        expect(row.msgsPerSec.median).toBeGreaterThan(0);
        expect(row.MBps.median).toBeCloseTo((row.msgsPerSec.median * row.size) / 1e6, 3);
        expect(typeof row.ratio).toBe('number');
        expect(typeof row.ofMemcpy).toBe('number');
        // Every shmkit row's share of the C ring (the native floor) at its size.
        if (row.group === 'shmkit') expect(typeof row.ofFloor).toBe('number');
        if (/^(ring|tq)/.test(row.primitive)) expect(row.ringCapacity).toBeGreaterThanOrEqual(1 << 20);
        if (/^ring/.test(row.primitive)) expect(typeof row.runs[0].stats.consumerParks).toBe('number');
        expect(row.placement).toBe('unpinned');
        expect(row.moved).toEqual({ messages: 200, bytes: 200 * row.size });
        expect(row.warmup.windows).toHaveLength(1); // --quick: one warm-up run of a tenth of the count
        expect(row.warmup.messages).toBe(20);
        expect(row.stable).toBeUndefined();
      }
    }
    const latencyIds = result.latency.map((row: { primitive: string }) => row.primitive);
    expect(latencyIds).not.toContain('memcpy');
    expect(latencyIds).not.toContain('ring-zc');
    expect(latencyIds).toContain('c-ring'); // the C ring's round trips: the latency floor
    for (const row of result.latency) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
      expect(row.placement).toBe('unpinned');
      expectLatency(row);
      // Ring and TypedQueue rows say how their round trips were served; the others cannot.
      if (/^(ring|tq)/.test(row.primitive)) expectWaits(row);
      else expect(row.waits).toBeUndefined();
    }
    expect(fs.readFileSync(csv, 'utf8').split('\n')[0]).toMatch(/^test,primitive,label,size,status,/);
    expect(fs.readFileSync(md, 'utf8')).toContain('| primitive | size | msgs/s |');
    expect(run.stdout).toContain('p50 µs');
    expect(fs.readFileSync(chart, 'utf8')).toMatch(/^<svg[^>]*>/);
  }, 180_000);

  it.each(['ring', 'uds', 'ipc-json', 'worker'])(
    'fails (exit 1) when the %s sender drops a message',
    async (id) => {
      const run = await bench(['--only', id, ...TINY, '--sizes', '64'], { SHMKIT_BENCH_DROP: id });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        /FAILED verification: .+: verification failed: expected message 2, got sequence number 3/,
      );
      expect(run.stdout).toContain('SOME TRANSPORTS FAILED');
    },
    120_000,
  );

  it('measures pinned wake-ups (--wakeup), a parked consumer (--idle) and an optional row, with --ring-capacity', async () => {
    const json = path.join(dir, 'extras.json');
    const run = await bench([
      '--only',
      'ring-spin,ring-zc',
      ...TINY,
      '--sizes',
      '64',
      '--ring-capacity',
      '64k',
      '--wakeup',
      '--idle',
      '--json',
      json,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('Wake-up latency, pinned');
    expect(run.stdout).toMatch(/^idle: a consumer parked in popIntoSync/m);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.options).toMatchObject({ ringCapacity: 65536, wakeup: true, idle: true });
    expect(result.primitives.map((p: { id: string }) => p.id).sort()).toEqual(['ipc-json', 'ring-spin', 'ring-zc']);
    for (const row of result.throughput) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
      if (row.primitive !== 'ipc-json') expect(row.ringCapacity).toBe(65536);
    }
    expect(result.latency.map((r: { primitive: string }) => r.primitive).sort()).toEqual(['ipc-json', 'ring-spin']);
    const placements = [...new Set(result.wakeup.map((r: { placement: string }) => r.placement))];
    expect(['cross,same', 'unpinned']).toContain(placements.join(','));
    expect(result.wakeup).toHaveLength(3 * placements.length);
    for (const row of result.wakeup) {
      expect(row.status, `${row.primitive} ${row.placement}: ${row.reason}`).toBe('ok');
      expect(['ring-park', 'ring', 'futex']).toContain(row.primitive);
      expectLatency(row);
    }
    expect(result.idle).toMatchObject({ status: 'ok', messages: 4 });
    for (const key of ['parkedSeconds', 'cpuMsPerSecond', 'schedstatMsPerSecond', 'consumerParksDuringIdle']) {
      expect(typeof result.idle[key]).toBe('number');
    }
    expect(result.idle.consumerParks).toBeGreaterThanOrEqual(1);
    expect(result.idle.consumerWakes).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('measures one async futex.wait among pending ones beside it alone (--crowd), and settles the crowd', async () => {
    const json = path.join(dir, 'crowd.json');
    const csv = path.join(dir, 'crowd.csv');
    const md = path.join(dir, 'crowd.md');
    const run = await bench([
      '--only',
      'futex',
      ...TINY,
      '--sizes',
      '64',
      '--crowd',
      '500',
      '--json',
      json,
      '--csv',
      csv,
      '--md',
      md,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('--crowd; × alone');
    expect(run.stdout).toMatch(/, 500 others pending /);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.ok).toBe(true);
    expect(result.options.crowd).toBe(500);
    expect(result.wakeup).toEqual([]);
    const placements = [...new Set(result.crowd.map((r: { placement: string }) => r.placement))];
    expect(['cross,same', 'unpinned']).toContain(placements.join(','));
    // Per placement: the round trip alone, then among 500 pending waits, in that order.
    expect(result.crowd.map((r: { placement: string; pending: number }) => `${r.placement}:${r.pending}`)).toEqual(
      placements.flatMap((p) => [`${p}:0`, `${p}:500`]),
    );
    for (const row of result.crowd) {
      expect(row, `${row.placement} ${row.pending}: ${row.reason}`).toMatchObject({
        primitive: 'futex-wait',
        group: 'shmkit',
        status: 'ok',
        rounds: 50,
      });
      expectLatency(row);
      if (row.pending === 0) {
        expect(row.ratio).toBe(1);
        expect(row.crowd).toBeUndefined();
        continue;
      }
      const alone = result.crowd.find((r: { placement: string; pending: number }) => r.placement === row.placement);
      expect(row.ratio).toBeCloseTo(row.p50Us / alone.p50Us, 9);
      expect(row.p99Ratio).toBeCloseTo(row.p99Us / alone.p99Us, 9);
      // Every parked wait stayed pending through the measurement, then ended as it should.
      expect(row.crowd).toMatchObject({ pending: 500, woken: 250, aborted: 250 });
      expect(row.crowd.parkMs).toBeGreaterThan(0);
      expect(row.crowd.settleMs).toBeGreaterThan(0);
      // The crowd sleeps on shared waiter threads: at most 1 + ⌈500/127⌉ more (docs/api.md).
      expect(row.crowd.threadsCrowded - row.crowd.threadsAlone).toBeLessThanOrEqual(1 + Math.ceil(500 / 127));
    }
    // The crowded rows' CSV lines carry the pending count in the 'pending' column.
    const [head, ...lines] = fs.readFileSync(csv, 'utf8').trim().split('\n');
    const pending = (head as string).split(',').indexOf('pending');
    const crowded = lines.filter((line) => line.startsWith('crowd,futex-wait,') && line.split(',')[pending] === '500');
    expect(crowded).toHaveLength(placements.length);
    expect(fs.readFileSync(md, 'utf8')).toContain('| placement, pending | p50 µs |');
  }, 120_000);

  it('fails every new row, wake-up, crowd and idle case whose sender drops a message', async () => {
    const dropped = ['ring-pop', 'ring-zc', 'ring-spin', 'memcpy', 'memcpy-ring', 'memcpy-slice'];
    const json = path.join(dir, 'drop.json');
    const run = await bench(
      ['--only', dropped.join(','), ...TINY, '--sizes', '64', '--wakeup', '--crowd', '100', '--idle', '--json', json],
      {
        SHMKIT_BENCH_DROP: [...dropped, 'ring-park', 'idle', 'futex-wait'].join(','),
      },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('SOME TRANSPORTS FAILED');
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    const lost = /verification failed: expected message 2, got sequence number 3/;
    const failedRows = [
      // c-memcpy comes with the memcpy group: a C program, no JavaScript sender to drop from.
      ...result.throughput.filter((r: { primitive: string }) => !['ipc-json', 'c-memcpy'].includes(r.primitive)),
      ...result.latency.filter((r: { primitive: string }) => r.primitive !== 'ipc-json'),
      ...result.wakeup.filter((r: { primitive: string }) => r.primitive === 'ring-park'),
      ...result.crowd, // alone and crowded: one run of round trips, the drop in its first
      result.idle,
    ];
    const placements = new Set(result.wakeup.map((r: { placement: string }) => r.placement));
    const perPlacement = (ids: string[]) => [...placements].flatMap(() => ids);
    expect(failedRows.map((r: { primitive: string }) => r.primitive).sort()).toEqual(
      [...dropped, 'ring-spin', 'idle', ...perPlacement(['ring-park', 'futex-wait', 'futex-wait'])].sort(),
    );
    for (const row of failedRows) {
      expect(row.status, `${row.primitive}`).toBe('failed-verification');
      expect(row.reason).toMatch(lost);
    }
    for (const row of result.wakeup.filter((r: { primitive: string }) => r.primitive !== 'ring-park')) {
      expect(row.status, `${row.primitive} ${row.placement}: ${row.reason}`).toBe('ok');
    }
  }, 120_000);

  it('skips a size above the kernel limit with the reason, and still exits 0', async () => {
    const msgmax = Number(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8'));
    const json = path.join(dir, 'skip.json');
    const run = await bench([
      '--only',
      'sysv',
      '--quick',
      '--count',
      '50',
      '--rounds',
      '20',
      '--repeat',
      '1',
      '--sizes',
      `${msgmax * 2}`,
      '--json',
      json,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`skipped: SysV message queue`);
    expect(run.stdout).toContain(`> kernel.msgmax ${msgmax}`);
    const row = JSON.parse(fs.readFileSync(json, 'utf8')).throughput.find(
      (r: { primitive: string }) => r.primitive === 'sysv',
    );
    expect(row).toMatchObject({ status: 'skipped', reason: expect.stringContaining('kernel.msgmax') });
  });

  it('by default warms each case up until its rate is stable and sizes its runs by time', async () => {
    const json = path.join(dir, 'steady.json');
    const run = await bench([
      '--only',
      'ring-park',
      '--sizes',
      '64',
      '--duration',
      '0.2',
      '--repeat',
      '2',
      '--rounds',
      '50',
      '--json',
      json,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(
      /warm-up until two 0\.2 s windows agree within 10 % \(at most 5 s\), then 2 runs of 0\.2 s each/,
    );
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.options).toMatchObject({ quick: false, duration: 0.2, count: null });
    expect(result.options.steady).toMatchObject({ windowSeconds: 0.2, tolerance: 0.1, maxWarmSeconds: 5 });
    expect(result.throughput.map((r: { primitive: string }) => r.primitive).sort()).toEqual(['ipc-json', 'ring-park']);
    for (const row of result.throughput) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
      const windows = row.warmup.windows;
      const last = windows.at(-1);
      expect(typeof row.stable).toBe('boolean');
      if (row.stable) {
        // The last two windows lasted half a window or more and agree within 10 %.
        const before = windows.at(-2);
        expect(Math.min(before.seconds, last.seconds)).toBeGreaterThanOrEqual(0.1);
        expect(Math.abs(before.msgsPerSec - last.msgsPerSec)).toBeLessThanOrEqual(
          0.1 * Math.max(before.msgsPerSec, last.msgsPerSec),
        );
      } else {
        expect(run.stdout).toMatch(new RegExp(`${row.label} .+ not stable`));
      }
      // Never fewer than the common count (100,000 at 64 B), and at least 0.2 s at the warm rate.
      if (!row.reduced) {
        expect(row.count).toBeGreaterThanOrEqual(100_000);
        expect(row.count).toBeGreaterThanOrEqual(Math.ceil(last.msgsPerSec * 0.2));
      }
      expect(row.runs.map((r: { count: number }) => r.count)).toEqual([row.count, row.count]);
      expect(row.moved).toEqual({ messages: 2 * row.count, bytes: 2 * row.count * 64 });
      expect(row.warmup.messages).toBe(windows.reduce((sum: number, w: { count: number }) => sum + w.count, 0));
    }
    const ring = result.latency.find((r: { primitive: string }) => r.primitive === 'ring-park');
    expect(ring.status, ring.reason).toBe('ok');
    expectWaits(ring);
    expect(run.stdout).toMatch(/^ {2}ring SPSC park-only: \d+% spun/m);
  }, 120_000);

  it('pins every row with --pin same|split (taskset), the parent too when it is one end', async (ctx) => {
    const taskset = ['/usr/bin/taskset', '/bin/taskset'].some((p) => fs.existsSync(p));
    requireOrSkip(ctx, taskset && os.availableParallelism() >= 2, 'taskset(1) and two CPUs');
    for (const [pin, placement] of [
      ['same', 'same'],
      ['split', 'cross'],
    ]) {
      const json = path.join(dir, `pin-${pin}.json`);
      const run = await bench([
        '--only',
        'ring,c-pipe,worker',
        ...TINY,
        '--sizes',
        '64',
        '--pin',
        pin as string,
        '--json',
        json,
      ]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const result = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(result.options.pin).toBe(pin);
      for (const row of [...result.throughput, ...result.latency]) {
        if (row.status === 'skipped' && /^c-/.test(row.primitive)) continue; // no C compiler
        expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
        expect(row.placement).toBe(placement);
      }
    }
    const bad = await bench(['--pin', 'diagonal']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("argument 'diagonal' is invalid");
  }, 120_000);

  it('rejects an unknown primitive with a usage error (exit 2)', async () => {
    const run = await bench(['--only', 'carrier-pigeon']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown primitive 'carrier-pigeon'");
  });
});

describe('shmkit bench for scripts and lean installs', () => {
  it('--json - writes the JSON to stdout and nothing else; the report and the progress go to stderr', async () => {
    const run = await bench(['--progress', '--only', 'memcpy', ...TINY, '--sizes', '64', '--json', '-']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ schema: 'shmkit-bench/3', ok: true });
    expect(result.throughput.map((r: { primitive: string }) => r.primitive).sort()).toEqual(
      ['c-memcpy', 'ipc-json', 'memcpy', 'memcpy-ring', 'memcpy-slice'].sort(),
    );
    expect(run.stdout.trimEnd().endsWith('}')).toBe(true);
    // stderr is not a terminal here: one progress line per case, then the report.
    expect(run.stderr).toMatch(/^\[1\/\d+\] /m);
    expect(run.stderr).toContain('all transports verified');
  }, 120_000);

  it('draws the progress bar when stderr is a terminal, also with stdout redirected', async (ctx) => {
    const hasScript = fs.existsSync('/usr/bin/script');
    requireOrSkip(ctx, hasScript, 'script(1) from util-linux, for a pseudo-terminal');
    const out = path.join(dir, 'pty.json');
    const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;
    const command = [process.execPath, CLI, 'bench', '--only', 'memcpy', ...TINY, '--sizes', '64', '--json', '-']
      .map(quote)
      .join(' ');
    // script(1) gives the command a terminal for stdin, stdout and stderr; stdout then goes to a file.
    const run = await new Promise<Run>((resolve) => {
      execFile(
        '/usr/bin/script',
        ['-qec', `${command} > ${quote(out)}`, '/dev/null'],
        { timeout: 110_000, env: { ...process.env, SHMKIT_BENCH_PREFIX: PREFIX } },
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      );
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ ok: true });
    // What reached the terminal: the bar (stderr is a terminal), not the lines for a pipe.
    expect(run.stdout).toMatch(/\d+\/\d+ cases \|/);
    expect(run.stdout).not.toMatch(/\[1\/\d+\] /);
    expect(run.stdout).toContain('all transports verified');
  }, 120_000);

  describe('in a copy of the package without echarts and without built C tools', () => {
    let cli = '';
    let root = '';
    beforeAll(() => {
      cli = leanCopy();
      root = path.dirname(path.dirname(path.dirname(path.dirname(cli))));
      fs.mkdirSync(NO_COMPILER.PATH, { recursive: true });
    });

    it('--chart fails at once with ERR_SHMKIT_NO_ECHARTS and the command that installs it, measuring nothing', async () => {
      const chart = path.join(dir, 'no-echarts.svg');
      const run = await bench(['--progress', '--only', 'memcpy', ...TINY, '--chart', chart], {}, cli);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('ERR_SHMKIT_NO_ECHARTS');
      expect(run.stderr).toContain('npm install echarts');
      expect(run.stderr.trim().split('\n')).toHaveLength(1); // one message, no stack trace, no progress
      expect(run.stdout).toBe('');
      expect(fs.existsSync(chart)).toBe(false);
    });

    it('a native row named in --only fails at once with ERR_SHMKIT_NO_COMPILER when no C compiler is found', async () => {
      const run = await bench(['--progress', '--only', 'c-pipe', ...TINY], NO_COMPILER, cli);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('ERR_SHMKIT_NO_COMPILER');
      expect(run.stderr).toContain('apt-get install gcc');
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stdout).toBe('');
    });

    it('native rows chosen by their group are skipped without a compiler, with one note saying why', async () => {
      const json = path.join(dir, 'no-compiler.json');
      const run = await bench(['--only', 'native', ...TINY, '--json', json], NO_COMPILER, cli);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr.match(/ERR_SHMKIT_NO_COMPILER/g)).toHaveLength(1);
      expect(run.stderr).toMatch(/^note: the native rows are skipped: no C compiler found/);
      const result = JSON.parse(fs.readFileSync(json, 'utf8'));
      const native = result.throughput.filter((r: { group: string }) => r.group === 'native');
      expect(native.map((r: { primitive: string }) => r.primitive).sort()).toEqual([
        'c-pipe',
        'c-pipe',
        'c-ring',
        'c-ring',
      ]);
      for (const row of native) {
        expect(row).toMatchObject({ status: 'skipped', reason: expect.stringContaining('ERR_SHMKIT_NO_COMPILER') });
      }
      expect(result.ok).toBe(true);
      expect(fs.existsSync(path.join(root, 'build', 'tools'))).toBe(false);
    }, 120_000);

    it('builds a C tool on its first use into build/tools, and reuses it after', async (ctx) => {
      const run = await bench(['--only', 'c-pipe', ...TINY, '--sizes', '64', '--json', '-'], {}, cli);
      if (/ERR_SHMKIT_NO_COMPILER/.test(run.stderr)) requireOrSkip(ctx, false, 'a C compiler (cc)');
      expect(run.code, run.stderr).toBe(0);
      const row = JSON.parse(run.stdout).throughput.find((r: { primitive: string }) => r.primitive === 'c-pipe');
      expect(row, row?.reason).toMatchObject({ status: 'ok', count: 200 });
      const tool = path.join(root, 'build', 'tools', 'pipe_bench');
      expect(fs.readdirSync(path.dirname(tool)).sort()).toEqual(['pipe_bench', 'pipe_bench.key']);
      const built = fs.statSync(tool);
      // The second run finds it, even with no compiler on the PATH.
      const again = await bench(['--only', 'c-pipe', ...TINY, '--sizes', '64', '--json', '-'], NO_COMPILER, cli);
      expect(again.code, again.stderr).toBe(0);
      expect(
        JSON.parse(again.stdout).throughput.find((r: { primitive: string }) => r.primitive === 'c-pipe'),
      ).toMatchObject({
        status: 'ok',
      });
      expect(fs.statSync(tool).mtimeMs).toBe(built.mtimeMs);
      expect(fs.statSync(tool).ino).toBe(built.ino);
    }, 120_000);
  });
});

describe('shmkit bench objects', () => {
  it('checks every field of every object: a wrong field, a lost object or a record that does not turn back fails', async () => {
    const { makeObject, verifyObject, objectMaker, objectVerifier, OBJECT_PRIMITIVES } = await import(
      '../bench/objects.mjs'
    );
    for (const id of [0, 1, 2, 41, 2 ** 32 - 1]) verifyObject(structuredClone(makeObject(id)), id);
    const corrupt: [string, (o: Record<string, unknown>) => void][] = [
      ['method', (o) => (o.method = 'order.nope')],
      ['ts', (o) => (o.ts = (o.ts as number) + 0.25)],
      ['symbol', (o) => (o.symbol = 'IBM')],
      ['qty', (o) => (o.qty = 0)],
      ['side', (o) => (o.side = o.side === 'buy' ? 'sell' : 'buy')],
      ['tags', (o) => (o.tags as string[]).pop()],
      ['tags\\[1\\]', (o) => ((o.tags as string[])[1] = 'x')],
    ];
    for (const [field, spoil] of corrupt) {
      const o = makeObject(5);
      spoil(o);
      expect(() => verifyObject(o, 5), field).toThrow(new RegExp(`^verification failed: object 5: ${field} is`));
    }
    expect(() => verifyObject(makeObject(6), 5)).toThrow(/expected message 5, got sequence number 6/);
    expect(() => verifyObject(null, 5)).toThrow(/object 5: got null/);
    // The records row: the sender's record (tags joined) turns back into the same object.
    const records = OBJECT_PRIMITIVES.find((p: { id: string }) => p.id === 'obj-tq-records');
    const record = objectMaker(records)(5);
    expect(typeof record.tags).toBe('string');
    objectVerifier(records)({ ...record }, 5);
    expect(() => objectVerifier(records)({ ...record, tags: 'dark' }, 5)).toThrow(/tags is/);
  });

  it('--payload object runs only the object rows, and fails every one whose sender drops an object', async () => {
    const json = path.join(dir, 'objects-drop.json');
    const run = await bench(['--payload', 'object', ...TINY, '--json', json], {
      SHMKIT_BENCH_DROP: OBJECT_IDS.join(','),
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('SOME TRANSPORTS FAILED');
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.options.payloads).toEqual(['object']);
    expect(result.throughput).toEqual([]);
    expect(result.latency).toEqual([]);
    for (const row of [...result.objects, ...result.objectLatency]) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('failed-verification');
      expect(row.reason).toMatch(/verification failed: expected message 2, got sequence number 3/);
    }
    expect(result.objects.map((r: { primitive: string }) => r.primitive)).toEqual(OBJECT_IDS);
    expect(result.objectLatency.map((r: { primitive: string }) => r.primitive)).toEqual(OBJECT_IDS);
  }, 120_000);

  it('--only picks object rows by id or prefix and adds their baseline; --payload rules out the rest', async () => {
    const json = path.join(dir, 'objects-only.json');
    const run = await bench(['--only', 'obj-tq-msgpack', ...TINY, '--json', json]);
    expect(run.code, run.stdout).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.primitives.map((p: { id: string }) => p.id)).toEqual(['obj-ipc-json', 'obj-tq-msgpack']);
    expect(result.objects.find((r: { primitive: string }) => r.primitive === 'obj-tq-msgpack').ratio).toBeCloseTo(
      result.objects[1].msgsPerSec.median / result.objects[0].msgsPerSec.median,
      9,
    );
    const none = await bench(['--only', 'ring', '--payload', 'object']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no row of --payload object matches --only ring');
    const bad = await bench(['--payload', 'strings']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--payload strings');
  }, 120_000);
});

describe('shmkit bench calls', () => {
  it('checks every answer: a wrong one names the call; the test hook drops or spoils call 2 only, once', async () => {
    const { verifyAnswer, operandB, answerHook } = await import('../bench/calls.mjs');
    for (const a of [0, 1, 2, 999, 2 ** 32 - 1]) verifyAnswer(a + operandB(a), a);
    expect(() => verifyAnswer(3 + operandB(3) + 1, 3)).toThrow(
      /^verification failed: call 3: add\(3, 24\) answered 28/,
    );
    expect(() => verifyAnswer(undefined, 3)).toThrow(/call 3: .+ answered undefined, expected 27/);
    expect(() => verifyAnswer('27', 3)).toThrow(/answered "27"/);
    const saved = process.env.SHMKIT_BENCH_DROP;
    try {
      process.env.SHMKIT_BENCH_DROP = 'svc,uds-rpc:wrong';
      const drop = answerHook('svc');
      const wrong = answerHook('uds-rpc');
      const none = answerHook('ipc-rpc');
      expect([0, 1, 2, 2, 3].map(drop)).toEqual([undefined, undefined, 'drop', undefined, undefined]);
      expect([2, 2].map(wrong)).toEqual(['wrong', undefined]);
      expect([2].map(none)).toEqual([undefined]);
    } finally {
      if (saved === undefined) delete process.env.SHMKIT_BENCH_DROP;
      else process.env.SHMKIT_BENCH_DROP = saved;
    }
  });

  it('--payload call runs only the call rows, with every answer checked; --only svc adds its baseline', async () => {
    const json = path.join(dir, 'calls.json');
    const md = path.join(dir, 'calls.md');
    const csv = path.join(dir, 'calls.csv');
    const run = await bench(['--payload', 'call', ...TINY, '--json', json, '--md', md, '--csv', csv]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('all transports verified');
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.options.payloads).toEqual(['call']);
    for (const key of ['throughput', 'latency', 'objects', 'objectLatency']) expect(result[key]).toEqual([]);
    expectCalls(result, 200);
    const svc = result.calls.find((r: { primitive: string }) => r.primitive === 'svc');
    expect(svc.ratio).toBeCloseTo(svc.callsPerSec.median / result.calls[0].callsPerSec.median, 9);
    // Each side's CPU per call, from its threads' run time: every run of every row has both.
    for (const row of result.calls) {
      for (const r of row.runs) expect(r.clientUs > 0 && r.serverUs > 0, JSON.stringify(r)).toBe(true);
      expect(row.clientCpuUs.median).toBeGreaterThan(0);
      expect(row.serverCpuUs.median).toBeGreaterThan(0);
    }
    const svcLatency = result.callLatency.find((r: { primitive: string }) => r.primitive === 'svc');
    expect(svcLatency.ratio).toBeCloseTo(result.callLatency[0].p50Us / svcLatency.p50Us, 9);
    expect(svcLatency.rounds).toBe(50);
    expect(fs.readFileSync(md, 'utf8')).toContain('| primitive | calls/s |');
    const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l.startsWith('calls,'))).toHaveLength(3);
    expect(lines.filter((l) => l.startsWith('call-latency,'))).toHaveLength(3);
    const only = await bench(['--only', 'svc', ...TINY, '--json', '-']);
    expect(only.code, only.stderr).toBe(0);
    expect(JSON.parse(only.stdout).primitives.map((p: { id: string }) => p.id)).toEqual(['ipc-rpc', 'svc']);
  }, 120_000);

  it('fails every call row whose server loses or spoils an answer (SHMKIT_BENCH_DROP=<id>[:wrong])', async () => {
    const json = path.join(dir, 'calls-drop.json');
    const run = await bench(['--payload', 'call', ...TINY, '--json', json], {
      SHMKIT_BENCH_DROP: 'svc,uds-rpc:wrong,ipc-rpc',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('SOME TRANSPORTS FAILED');
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    for (const row of [...result.calls, ...result.callLatency]) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('failed-verification');
      expect(row.reason).toMatch(
        row.primitive === 'uds-rpc'
          ? /verification failed: call 2: add\(2, 17\) answered 20, expected 19/
          : /verification failed: call 2( \(of \d+ pending\))?: no answer within \d+ ms \(lost\)/,
      );
    }
    expect(result.calls.map((r: { primitive: string }) => r.primitive)).toEqual(CALL_IDS);
  }, 120_000);
});

describe('shmkit bench: fan-out rows', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmkit-bench-fanout-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--payload fanout runs only the fan-out rows, every message of every subscriber checked', async () => {
    const json = path.join(dir, 'fanout.json');
    const md = path.join(dir, 'fanout.md');
    const run = await bench(['--payload', 'fanout', ...TINY, '--json', json, '--md', md]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.options.payloads).toEqual(['fanout']);
    for (const key of ['throughput', 'latency', 'objects', 'calls']) expect(result[key]).toEqual([]);
    expectFanout(result, 200);
    const at = (id: string, size: number) =>
      result.fanout.find((r: JsonRow) => r.primitive === id && r.size === size) as JsonRow;
    const topic = at('fan-topic', 64);
    expect(topic.ratio).toBeCloseTo(topic.msgsPerSec.median / at('fan-ipc', 64).msgsPerSec.median, 9);
    expect(at('fan-ipc', 64).ratio).toBe(1);
    expect(at('fan-uds', 65536).ofUds).toBe(1);
    const drop = at('fan-topic-drop', 64);
    expect(drop.cpuOfOne).toBeCloseTo(drop.publisherCpuUs.median / at('fan-topic-drop-1', 64).publisherCpuUs.median, 9);
    expect(fs.readFileSync(md, 'utf8')).toContain('| primitive | size | delivered/s |');
  }, 180_000);

  it('fails every fan-out row whose publisher loses a message (SHMKIT_BENCH_DROP=<id>)', async () => {
    const json = path.join(dir, 'fanout-drop.json');
    const run = await bench(['--payload', 'fanout', ...TINY, '--json', json], {
      SHMKIT_BENCH_DROP: FANOUT_IDS.join(','),
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('SOME TRANSPORTS FAILED');
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.fanout).toHaveLength(FANOUT_IDS.length * 2);
    for (const row of result.fanout) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('failed-verification');
      expect(row.reason).toMatch(
        String(row.primitive).includes('drop')
          ? /skipped 1 messages, but the topic announced 0/
          : /expected message 2, got sequence number 3/,
      );
    }
  }, 180_000);
});

describe('shmkit bench: NATS rows (--nats)', () => {
  it('runs the bridged topic and the exposed service beside the plain nats client against a nats-server it starts, every message checked; a lost message fails its row', async (ctx) => {
    const nats = findNatsServer();
    if (!nats && process.env.CI) throw new Error('nats-server must be installed in CI (.ci/run installs it)');
    requireOrSkip(ctx, nats !== undefined, 'nats-server (apt-get install nats-server)');
    const args = ['--payload', 'bytes', '--only', 'memcpy', ...TINY, '--sizes', '64', '--nats', '--json', '-'];
    const run = await bench(args);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.options.nats).toBe(true);
    const rows = [...result.nats.throughput, ...result.nats.latency];
    expect(rows.map((r: JsonRow) => r.primitive)).toEqual(['nats-plain', 'nats-bridge', 'nats-request', 'nats-svc']);
    for (const row of result.nats.throughput) {
      expect(row.status, row.reason).toBe('ok');
      expect(row).toMatchObject({ count: 200, size: 64 });
      expect(row.msgsPerSec.median).toBeGreaterThan(0);
    }
    for (const row of result.nats.latency) {
      expect(row.status, row.reason).toBe('ok');
      expect(row.rounds).toBe(50);
      expect(row.p50Us).toBeLessThanOrEqual(row.p99Us);
    }
    expect(result.nats.latency[1].cost).toBeCloseTo(result.nats.latency[1].p50Us / result.nats.latency[0].p50Us, 9);
    const [plain, bridge] = result.nats.throughput;
    expect(bridge.cost).toBeCloseTo(plain.msgsPerSec.median / bridge.msgsPerSec.median, 9);
    expect(run.stderr).toMatch(/NATS rows \(--nats; cost = /);
    const dropped = await bench(args, { SHMKIT_BENCH_DROP: 'nats-plain,nats-bridge' });
    expect(dropped.code).toBe(1);
    const failed = JSON.parse(dropped.stdout).nats.throughput;
    for (const row of failed) {
      expect(row.status, row.reason).toBe('failed-verification');
      expect(row.reason).toMatch(/expected message 2, got sequence number 3/);
    }
  }, 180_000);
});

/** A result as runBench returns it, of every byte row, with made-up numbers (no measuring). */
function syntheticResult(
  primitives: { id: string; label: string; group: string; api: string; [k: string]: unknown }[],
) {
  const rows = primitives.filter((p) => !p.payload && !p.optional);
  const sizes = [64, 4096, 65536, 1048576];
  const throughput = rows
    .filter((p) => !p.latencyOnly)
    .flatMap((p, i) =>
      sizes.map((size) => {
        const median = (1 + i) * 10 * (size / 64) ** 0.7;
        return i === 3 && size === 1048576
          ? { primitive: p.id, label: p.label, group: p.group, size, status: 'skipped', reason: 'too big' }
          : {
              primitive: p.id,
              label: p.label,
              group: p.group,
              size,
              status: 'ok',
              MBps: { median, min: median * 0.7, max: median * 1.2 },
            };
      }),
    );
  const latency = rows
    .filter((p) => !p.throughputOnly && p.group !== 'native')
    .map((p, i) => {
      const p50Us = 2 + i * 7;
      return {
        primitive: p.id,
        label: p.label,
        group: p.group,
        size: 64,
        status: 'ok',
        p50Us,
        p90Us: p50Us * 2,
        p99Us: p50Us * 9,
        p999Us: p50Us * 20,
        maxUs: p50Us * 40,
        p50RunsUs: { median: p50Us, min: p50Us * 0.8, max: p50Us * 1.6 },
      };
    });
  return {
    date: '2026-12-02T03:00:00.000Z',
    machine: {
      cpuModel: 'AMD EPYC',
      cores: 2,
      kernel: 'Linux 6.18',
      node: 'v20.20.2',
      shmkit: '0.1.0',
      loadAverage: [1, 2, 3],
    },
    options: { sizes, repeat: 3, latencySize: 64, baseline: 'ipc-json' },
    primitives: rows.map(({ id, label, group, api }) => ({ id, label, group, api })),
    throughput,
    latency,
    objects: [],
    objectLatency: [],
    wakeup: [],
    crowd: [],
  };
}

describe('shmkit bench --chart', () => {
  it('draws dots with whiskers per primitive on log axes, the baseline marked, and renders to a PNG of its size', async () => {
    const { renderSvg } = await import('../bench/report.mjs');
    const { PRIMITIVES } = await import('../bench/transports.mjs');
    const result = syntheticResult(PRIMITIVES);
    const svg: string = await renderSvg(result);
    const rows = result.primitives.length;
    expect(svg).toMatch(/^<svg[^>]*width="1500" height="(\d+)"/);
    expect(svg).toContain('shmkit 0.1.0 bench, 2026-12-02 03:00 UTC: AMD EPYC, 2 cores, Linux 6.18, Node v20.20.2');
    expect(svg).toContain('process.send json (baseline)');
    // Every row's label once (on the first panel's axis, not in a legend beside the others).
    for (const p of result.primitives.filter((p: { id: string }) => p.id !== 'ipc-json')) {
      const text = p.label.replaceAll('&', '&amp;').replaceAll("'", '&#39;');
      expect(svg.split(`>${text}<`).length - 1, p.label).toBe(1);
    }
    const { Resvg } = await import('@resvg/resvg-js');
    const image = new Resvg(svg, {
      background: '#fff',
      font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    }).render();
    expect(image.width).toBe(1500);
    expect(image.height).toBe(112 + rows * 22 + 56); // bench/chart.mjs: a 22-pixel row per primitive
    const png = image.asPng();
    expect(png.length).toBeGreaterThan(40_000);
    // Drawn, not blank: a share of the pixels is neither white nor grey (the rows' colours).
    const pixels = image.pixels;
    let coloured = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      const [r, g, b] = [pixels[i] ?? 0, pixels[i + 1] ?? 0, pixels[i + 2] ?? 0];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    }
    expect(coloured / (pixels.length / 4)).toBeGreaterThan(0.002);
    if (process.env.SHMKIT_CHART_PNG) fs.writeFileSync(process.env.SHMKIT_CHART_PNG, png);
    // The object rows: two more panels (objects/s, their round trip) and a row each, after the byte rows.
    const objectRows = PRIMITIVES.filter((p) => 'payload' in p && p.payload === 'object');
    const withObjects = {
      ...result,
      options: { ...result.options, objectBaseline: 'obj-ipc-json' },
      primitives: [...result.primitives, ...objectRows],
      objects: objectRows.map((p: { id: string; label: string }, i: number) => ({
        primitive: p.id,
        label: p.label,
        status: 'ok',
        msgsPerSec: { median: 1e5 * (i + 1), min: 0.9e5 * (i + 1), max: 1.1e5 * (i + 1) },
      })),
      objectLatency: objectRows.map((p: { id: string; label: string }) => ({
        primitive: p.id,
        label: p.label,
        status: 'ok',
        p50Us: 50,
        p99Us: 500,
        p50RunsUs: { median: 50, min: 40, max: 60 },
      })),
    };
    const both: string = await renderSvg(withObjects);
    expect(both).toContain('>objects/s<');
    expect(both).toContain('objects: process.send json (baseline)');
    const tall = new Resvg(both, { background: '#fff', font: { loadSystemFonts: true } }).render();
    expect(tall.height).toBe(image.height + objectRows.length * 22);
    expect(tall.width).toBeGreaterThan(image.width); // two more panels
  });
});
