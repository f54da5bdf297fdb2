/**
 * The parts of `shmkit bench` (docs/benchmarks.md) that need no measurement: the steady-state
 * rules (bench/steady.mjs), the spun/parked split of round trips (bench/waits.mjs), and
 * --compare (bench/compare.mjs), the last through the built CLI with --from, on hand-made
 * results of the documented shape.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareResults } from '../bench/compare.mjs';
import { isStable, runCount, STEADY, warmUp } from '../bench/steady.mjs';
import { PARKED_ECHO, PARKED_PINGER } from '../bench/transports.mjs';
import { parkSplit } from '../bench/waits.mjs';
import { runPrefix } from './helpers.js';

const CLI = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix()}bench-units-`));

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A fake case whose rate follows `rates` (msgs/s), one per window, then stays at the last. */
function fakeCase(rates: number[]) {
  let i = 0;
  return async (count: number) => {
    const rate = rates[Math.min(i++, rates.length - 1)] as number;
    return { seconds: (count - 1) / rate };
  };
}

describe('steady state (bench/steady.mjs)', () => {
  it('warms up until two windows of at least half the window time agree within the tolerance', async () => {
    // The first window is short (10 messages, 9 ms): it cannot count; then 1,000 and 1,050 msgs/s.
    const warm = await warmUp(fakeCase([1000, 1000, 1050]), 10);
    expect(warm.stable).toBe(true);
    // Windows of 0.2 s at the rate just seen (± 1 message of rounding).
    const counts = warm.windows.map((w: { count: number }) => w.count);
    expect(counts).toHaveLength(3);
    expect(counts[0]).toBe(10);
    for (const count of counts.slice(1)) expect(Math.abs(count - 200)).toBeLessThanOrEqual(1);
    expect(warm.msgsPerSec).toBeCloseTo(1050, 6);
    expect(warm.messages).toBe(counts.reduce((sum: number, n: number) => sum + n, 0));
    const window = (msgsPerSec: number, seconds = 0.2) => ({ count: 0, seconds, msgsPerSec });
    expect(isStable([window(500), window(1000)])).toBe(false); // 50 % apart
    expect(isStable([window(1000, 0.05), window(1000)])).toBe(false); // a window too short to count
    expect(isStable([window(1000), window(1000)])).toBe(true);
  });

  it('stops at its time limit and says the rate was not stable', async () => {
    const rules = { ...STEADY, maxWarmSeconds: 0 };
    const warm = await warmUp(fakeCase([1000, 2000]), 10, rules);
    expect(warm.stable).toBe(false);
    expect(warm.windows).toHaveLength(1);
  });

  it('grows a window the clock could not time, and sizes runs on the last rate it could', async () => {
    const rules = { ...STEADY, maxWarmSeconds: 60 };
    let calls = 0;
    const warm = await warmUp(
      async (count: number) => {
        calls++;
        return { seconds: calls === 1 ? 0 : (count - 1) / 1000 };
      },
      10,
      rules,
    );
    expect(warm.windows[0]).toMatchObject({ count: 10, msgsPerSec: Number.POSITIVE_INFINITY });
    expect(warm.windows[1]?.count).toBe(100);
    expect(warm.stable).toBe(true);
    expect(warm.msgsPerSec).toBeCloseTo(1000, 6);
  });

  it('sizes a run by time, never below the common count, and caps a slow one', () => {
    expect(runCount({ common: 100_000, rate: 5e6, duration: 0.5 })).toEqual({ count: 2_500_000, reduced: false });
    expect(runCount({ common: 100_000, rate: 1e5, duration: 0.5 })).toEqual({ count: 100_000, reduced: false });
    // 256 messages at 20/s would take 12.8 s: capped at maxRunSeconds.
    expect(runCount({ common: 256, rate: 20, duration: 0.5 })).toEqual({
      count: 20 * STEADY.maxRunSeconds,
      reduced: true,
    });
    expect(runCount({ common: 256, rate: 20, duration: 0.5, fixed: 7 })).toEqual({ count: 7, reduced: false });
    // --quick: the common count unless it takes more than 1.5 × duration.
    expect(runCount({ common: 100_000, rate: 5e6, duration: 0.5, quick: true })).toEqual({
      count: 100_000,
      reduced: false,
    });
    expect(runCount({ common: 256, rate: 100, duration: 1, quick: true })).toEqual({ count: 100, reduced: true });
  });
});

describe('spun and parked round trips (bench/waits.mjs)', () => {
  it('splits round trips by the sides that parked, with the p50 of each kind', () => {
    const runs = [
      [1000, 2000, 50_000],
      [3000, 60_000],
    ];
    const parked = [
      [0, 0, PARKED_PINGER],
      [0, PARKED_PINGER | PARKED_ECHO],
    ];
    expect(parkSplit(runs, parked)).toEqual({
      rounds: 5,
      spun: 3,
      pingerParked: 2,
      echoParked: 1,
      spunPct: 60,
      spunP50Us: 2,
      parkedP50Us: 55,
    });
    expect(parkSplit(runs, undefined)).toBeUndefined();
  });
});

// ------------------------------------------------------------ --compare

function result(throughput: object[], latency: object[], extra: object = {}) {
  return {
    schema: 'shmkit-bench/3',
    date: '2026-12-01T00:00:00.000Z',
    machine: {
      cpuModel: 'Test CPU',
      cores: 2,
      logicalCpus: 2,
      arch: 'x64',
      kernel: 'Linux',
      node: 'v20',
      v8: '11',
      shmkit: '0.1.0',
      totalMemoryGiB: 8,
      loadAverage: [0, 0, 0],
    },
    limits: {},
    options: {
      primitives: [],
      sizes: [64],
      duration: 0.5,
      repeat: 3,
      count: null,
      quick: false,
      pin: null,
      rounds: 2000,
      latencySize: 64,
      baseline: 'ipc-json',
    },
    primitives: [],
    throughput,
    latency,
    wakeup: [],
    crowd: [],
    idle: null,
    seconds: 1,
    ok: true,
    ...extra,
  };
}

function tp(primitive: string, median: number, min: number, max: number) {
  const spread = { median, min, max };
  const MBps = { median: (median * 64) / 1e6, min: (min * 64) / 1e6, max: (max * 64) / 1e6 };
  return {
    primitive,
    label: primitive,
    group: 'shmkit',
    size: 64,
    status: 'ok',
    count: 100_000,
    msgsPerSec: spread,
    MBps,
  };
}

function lat(primitive: string, median: number, min: number, max: number) {
  return {
    primitive,
    label: primitive,
    group: 'shmkit',
    size: 64,
    placement: 'unpinned',
    status: 'ok',
    rounds: 6000,
    p50Us: median,
    p90Us: max,
    p99Us: max,
    p999Us: max,
    maxUs: max,
    p50RunsUs: { median, min, max },
  };
}

const BEFORE = result(
  [tp('ring', 1e6, 0.9e6, 1.1e6), tp('uds', 2e5, 1.8e5, 2.2e5), tp('tcp', 1e5, 1e5, 1e5), tp('sysv', 3e5, 3e5, 3e5)],
  [lat('ring', 10, 9, 11), lat('uds', 30, 28, 40)],
);
const AFTER = result(
  [
    tp('ring', 2e6, 1.8e6, 2.2e6),
    tp('uds', 2.1e5, 2.0e5, 2.3e5),
    tp('pipe', 1e5, 1e5, 1e5),
    { primitive: 'sysv', label: 'sysv', group: 'shmkit', size: 64, status: 'skipped', reason: 'no queues here' },
  ],
  [lat('ring', 20, 19, 21), lat('uds', 25, 20, 29)],
  { options: { ...BEFORE.options, pin: 'same' } },
);

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'bench', '--no-progress', ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('shmkit bench --compare (bench/compare.mjs)', () => {
  it('calls a change only when the ranges do not overlap, and lists the rows of one run only', () => {
    const byKey = new Map(compareResults(BEFORE, AFTER).map((c: { key: string }) => [c.key, c]));
    expect(byKey.get('throughput ring 64')).toMatchObject({ verdict: 'faster', changePct: 100 });
    expect(byKey.get('throughput uds 64')).toMatchObject({ verdict: 'noise' });
    expect(byKey.get('throughput tcp 64')).toMatchObject({ verdict: 'only-before' });
    expect(byKey.get('throughput pipe 64')).toMatchObject({ verdict: 'only-after' });
    expect(byKey.get('throughput sysv 64')).toMatchObject({
      verdict: 'not-ok',
      why: 'before ok; now skipped: no queues here',
    });
    // The object rows (--payload object) are compared too, where both results have them.
    const objects = (median: number) => ({ objects: [tp('obj-ipc-json', median, median, median)], objectLatency: [] });
    expect(compareResults(result([], [], objects(100)), result([], [], objects(50)))).toMatchObject([
      { section: 'objects', key: 'objects obj-ipc-json', verdict: 'slower', changePct: -50 },
    ]);
    // Skipped in both runs for the same reason: said once.
    const skipped = { ...tp('sysv', 0, 0, 0), status: 'skipped', reason: 'no queues here' };
    const both = compareResults(result([skipped], []), result([skipped], []));
    expect(both).toMatchObject([{ verdict: 'not-ok', why: 'skipped in both runs' }]);
    // Latency: lower is faster.
    expect(byKey.get('latency ring')).toMatchObject({ verdict: 'slower', changePct: 100 });
    expect(byKey.get('latency uds')).toMatchObject({ verdict: 'noise' });
  });

  it('prints each row against an earlier run (--from a saved run, --compare the earlier one)', async () => {
    const before = path.join(dir, 'before.json');
    const after = path.join(dir, 'after.json');
    fs.writeFileSync(before, JSON.stringify(BEFORE));
    fs.writeFileSync(after, JSON.stringify(AFTER));
    const run = await cli(['--from', after, '--compare', before]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('Compared with 2026-12-01T00:00:00.000Z (shmkit-bench/3');
    expect(run.stdout).toContain('--pin: before unpinned, now same');
    expect(run.stdout).toMatch(
      /^ {2}ring, 64 B +1\.00 M \[900\.0 k–1\.10 M\] → 2\.00 M \[1\.80 M–2\.20 M\]: \+100\.0 % \(faster\)$/m,
    );
    expect(run.stdout).toMatch(/^ {2}uds, 64 B .+: within noise \(\+5\.0 %, ranges overlap\)$/m);
    expect(run.stdout).toMatch(/^ {2}tcp, 64 B .+: only in the previous run$/m);
    expect(run.stdout).toMatch(/^ {2}pipe, 64 B .+: only in this run$/m);
    expect(run.stdout).toMatch(/^ {2}sysv, 64 B .+: not compared: before ok; now skipped: no queues here$/m);
    expect(run.stdout).toMatch(
      /^ {2}ring +10\.0 µs \[9\.0–11\.0\] → 20\.0 µs \[19\.0–21\.0\]: \+100\.0 % \(slower\)$/m,
    );
    expect(run.stdout).toContain(
      '1 faster, 1 slower, 2 within noise, 1 not compared, 1 only in the previous run, 1 only in this run',
    );
  });

  it('refuses a file that is not a result before measuring anything (exit 2)', async () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ schema: 'something-else/1' }));
    const wrong = await cli(['--compare', bad]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('is not a shmkit bench result of schema shmkit-bench/2 or shmkit-bench/3');
    expect(wrong.stdout).toBe('');
    const missing = await cli(['--compare', path.join(dir, 'missing.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing\.json: cannot be read \(ENOENT\)/);
  });
});
