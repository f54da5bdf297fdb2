/**
 * bench/service-liveness.mjs (issue 12's liveness numbers) in a tiny configuration: the shape
 * of its --json output and of its text, and that it leaves nothing in /dev/shm. The numbers
 * themselves are measurements, never judged here.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { livenessText } from '../bench/service-liveness.mjs';
import { runPrefix } from './helpers.js';

const SCRIPT = path.join(__dirname, '..', 'bench', 'service-liveness.mjs');
const TINY = ['--kills', '3', '--batch', '2', '--clients', '2', '--idle-ms', '100', '--settle-ms', '50'];

function run(args: string[], prefix: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT, ...args],
      { timeout: 120_000, env: { ...process.env, SHMKIT_BENCH_PREFIX: prefix } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const leftovers = (prefix: string) => fs.readdirSync('/dev/shm').filter((entry) => entry.startsWith(prefix));
const number = expect.any(Number);

describe('bench/service-liveness.mjs', () => {
  it('--json: the kill → disconnect latencies with pidfd and with the /proc fallback, and the idle CPU of a server with its clients', async () => {
    const prefix = `${runPrefix()}liveness-json-`;
    const result = await run(['--json', ...TINY], prefix);
    expect(result.stderr).toBe('');
    expect(result.code, result.stdout).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ primitive: 'svc-liveness', status: 'ok', loadAverage: [number, number, number] });
    expect(out.disconnect.map((d: { watch: string }) => d.watch)).toEqual(['pidfd', '/proc fallback']);
    for (const d of out.disconnect) {
      if (d.status === 'skipped') {
        expect(d.watch).toBe('pidfd'); // pidfd_open(2) missing here: said, not hidden
        continue;
      }
      expect(d).toMatchObject({
        status: 'ok',
        kills: 3,
        p50Ms: number,
        p99Ms: number,
        minMs: number,
        maxMs: number,
        meanMs: number,
        exitP50Ms: number,
        exitP99Ms: number,
        pidfdsHeld: number,
      });
      expect(d.samplesMs).toHaveLength(3);
      expect(d.minMs).toBeLessThanOrEqual(d.p50Ms);
      expect(d.p50Ms).toBeLessThanOrEqual(d.p99Ms);
      expect(d.p99Ms).toBeLessThanOrEqual(d.maxMs);
      // Which watch served is checked from /proc/self/fd, not assumed.
      if (d.watch === 'pidfd') expect(d.pidfdsHeld).toBeGreaterThan(0);
      else expect(d.pidfdsHeld).toBe(0);
    }
    expect(out.idle).toMatchObject({
      status: 'ok',
      clients: 2,
      settleMs: 50,
      windowMs: number,
      clockTicksPerSecond: number,
      server: { cpuMs: number, schedMs: number },
      clientMaxCpuMs: number,
      clientMaxSchedMs: number,
      clientsTotalSchedMs: number,
    });
    expect(out.idle.perClient).toHaveLength(2);
    expect(out.idle.windowMs).toBeGreaterThanOrEqual(100);
    expect(leftovers(prefix)).toEqual([]);

    // The text (without --json; in `shmkit bench`): the title, a table with one row per watch, the idle line.
    const lines = livenessText(out).split('\n');
    expect(lines[0]).toMatch(
      /^Service liveness: SIGKILL of a client → the service's 'disconnect'.+load average [\d. ]+\):$/,
    );
    expect(lines.find((line) => line.includes('watch'))).toMatch(
      /watch.+kills.+p50 ms.+p99 ms.+max ms.+child 'exit' p50 ms/,
    );
    expect(lines.find((line) => line.includes('pidfd ') && !line.includes('fallback'))).toMatch(/pidfd.+(\d|skipped)/);
    expect(lines.find((line) => line.includes('/proc fallback'))).toMatch(/\/proc fallback\s+│?\s*3\s/);
    expect(lines.at(-1)).toMatch(/^idle service with 2 connected clients, [\d.]+ s: the server used [\d.]+ ms CPU/);
  });

  it('a bad argument: exit code 1 and the reason', async () => {
    const result = await run(['--kills', '0'], `${runPrefix()}liveness-bad-`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--kills must be a positive integer/);
  });
});
