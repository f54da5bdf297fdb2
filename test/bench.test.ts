/**
 * `shmkit bench` (docs/benchmarks.md), run as the built CLI (dist/tooling/cli/main.js)
 * on tiny counts: every primitive runs and verifies what it received, a
 * transport that drops a message is caught (SHMKIT_BENCH_DROP), --json has
 * the documented shape, a primitive the kernel's limits rule out is skipped
 * with its reason, and nothing is left behind.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prerequisite, runPrefix } from './helpers.js';

const CLI = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');
const PREFIX = `${runPrefix()}bench-`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix()}bench-out-`));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bench(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'bench', '--no-progress', ...args],
      { timeout: 60_000, env: { ...process.env, SHMKIT_BENCH_PREFIX: PREFIX, ...env }, maxBuffer: 8 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const TINY = ['--count', '200', '--rounds', '50', '--repeat', '1', '--sizes', '64,4k'];

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
      ['date', 'latency', 'limits', 'machine', 'ok', 'options', 'primitives', 'schema', 'seconds', 'throughput'].sort(),
    );
    expect(result.schema).toBe('shmkit-bench/1');
    expect(result.ok).toBe(true);
    expect(Object.keys(result.machine)).toEqual(
      expect.arrayContaining(['cpuModel', 'cores', 'kernel', 'node', 'shmkit']),
    );
    expect(result.options).toMatchObject({ sizes: [64, 4096], repeat: 1, count: 200, baseline: 'ipc-json' });
    const ids = result.primitives.map((p: { id: string }) => p.id);
    expect(ids).toEqual(expect.arrayContaining(['ring', 'ring-park', 'ring-mpmc', 'tq-records', 'tq-v8', 'sysv']));
    expect(ids).toEqual(expect.arrayContaining(['posix-mq', 'fifo', 'semaphore', 'signals', 'futex', 'ipc-json']));
    expect(ids).toEqual(expect.arrayContaining(['ipc-advanced', 'uds', 'tcp', 'pipe', 'worker', 'c-ring', 'c-pipe']));
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
      }
    }
    for (const row of result.latency) {
      expect(row.status, `${row.primitive}: ${row.reason}`).toBe('ok');
      for (const key of ['p50', 'p90', 'p99', 'p999', 'max', 'rounds', 'ratio']) expect(typeof row[key]).toBe('number');
      expect(row.p50).toBeLessThanOrEqual(row.p99);
    }
    expect(fs.readFileSync(csv, 'utf8').split('\n')[0]).toMatch(/^test,primitive,label,size,status,/);
    expect(fs.readFileSync(md, 'utf8')).toContain('| primitive | size | msgs/s |');
    expect(fs.readFileSync(chart, 'utf8')).toMatch(/^<svg[^>]*>/);
  });

  it.each(['ring', 'uds', 'ipc-json', 'worker'])('fails (exit 1) when the %s sender drops a message', async (id) => {
    const run = await bench(['--only', id, ...TINY, '--sizes', '64'], { SHMKIT_BENCH_DROP: id });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /FAILED verification: .+: verification failed: expected message 2, got sequence number 3/,
    );
    expect(run.stdout).toContain('SOME TRANSPORTS FAILED');
  });

  it('skips a size above the kernel limit with the reason, and still exits 0', async () => {
    const msgmax = Number(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8'));
    const json = path.join(dir, 'skip.json');
    const run = await bench([
      '--only',
      'sysv',
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
    expect(run.stdout).toContain(`skipped: SysV MessageQueue`);
    expect(run.stdout).toContain(`> kernel.msgmax ${msgmax}`);
    const row = JSON.parse(fs.readFileSync(json, 'utf8')).throughput.find(
      (r: { primitive: string }) => r.primitive === 'sysv',
    );
    expect(row).toMatchObject({ status: 'skipped', reason: expect.stringContaining('kernel.msgmax') });
  });

  it('rejects an unknown primitive with a usage error (exit 2)', async () => {
    const run = await bench(['--only', 'carrier-pigeon']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown primitive 'carrier-pigeon'");
  });
});
