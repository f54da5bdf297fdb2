/**
 * Global teardown: fails the run if any test of this run left a kernel object
 * behind in /dev/shm (shared memory segments and named semaphores), and
 * removes it. Objects of other runs (another checkout testing at the same
 * time) are left alone.
 *
 * It also checks System V message queues, shared memory segments and
 * semaphore sets (keys from sysvTestKey(), listed in /proc/sysvipc/{msg,shm,sem}),
 * POSIX message queues (/dev/mqueue, mounted here if absent) and FIFOs or temp dirs in os.tmpdir() whose names carry the run prefix.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIFO_REGISTRY } from '../lib/primitives/fifo-registry.js';
import { runPrefix } from './names.js';

const MQUEUE_DIR = '/dev/mqueue';

function leftovers(): string[] {
  const prefix = runPrefix();
  return fs.readdirSync('/dev/shm').filter((name) => name.includes(prefix));
}

/** The top 20 bits of every SysV key this run's tests use: a tag byte, then 12 bits of the run id. */
function sysvKeyHigh(): number {
  const run = Number(process.env.SHMKIT_TEST_RUN ?? process.ppid);
  return (0x5e << 12) | (run & 0xfff);
}

/** A random System V IPC key that the teardown recognises as this run's. */
export function sysvTestKey(): number {
  return (sysvKeyHigh() << 12) | randomInt(1, 0x1000) | 0;
}

/** This run's System V objects in /proc/sysvipc/<table> (msg, shm or sem). */
function sysvLeftovers(table: 'msg' | 'shm' | 'sem' = 'msg'): { key: number; id: number }[] {
  let text = '';
  try {
    text = fs.readFileSync(`/proc/sysvipc/${table}`, 'utf8');
  } catch {
    return [];
  }
  const high = sysvKeyHigh();
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 2)
    .map((fields) => ({ key: Number(fields[0]), id: Number(fields[1]) }))
    .filter(({ key }) => key >>> 12 === high);
}

function mqueueLeftovers(): string[] {
  if (!fs.existsSync(MQUEUE_DIR)) return [];
  const prefix = runPrefix();
  return fs.readdirSync(MQUEUE_DIR).filter((name) => name.includes(prefix));
}

function tmpLeftovers(): string[] {
  const prefix = runPrefix();
  return fs.readdirSync(os.tmpdir()).filter((name) => name.includes(prefix));
}

// Whether the user's FIFO registry existed before the run: if the run creates
// it, unlinking every FIFO the tests made must remove it again.
let registryBefore = false;
// Whether POSIX message queues can be listed, so that their leak check runs.
let mqueueListable = false;

export function setup(): void {
  registryBefore = fs.existsSync(FIFO_REGISTRY);
  // Forked test workers inherit this, so their names carry this run's id.
  process.env.SHMKIT_TEST_RUN = String(process.pid);
  // POSIX message queues are only listable through the mqueue filesystem.
  if (!mqueueMounted()) {
    try {
      fs.mkdirSync(MQUEUE_DIR, { recursive: true });
      execFileSync('mount', ['-t', 'mqueue', 'none', MQUEUE_DIR], { stdio: 'ignore' });
    } catch {
      // Not root, or no mqueue filesystem: said below.
    }
  }
  mqueueListable = mqueueMounted();
  if (!mqueueListable) {
    // The rule of prerequisite() in helpers.ts: a check that cannot run fails CI (in teardown) and is said aloud locally.
    console.warn(`skipped: the POSIX mq leak check (no mqueue filesystem on ${MQUEUE_DIR})`);
  }
}

function mqueueMounted(): boolean {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === MQUEUE_DIR);
}

export function teardown(): void {
  const left = leftovers();
  for (const name of left) fs.rmSync(path.join('/dev/shm', name), { force: true });
  if (left.length > 0) {
    // vitest ignores errors thrown here: fail the run through the exit code.
    console.error(`FAIL: tests left ${left.length} object(s) in /dev/shm: ${left.join(', ')}`);
    process.exitCode = 1;
  }
  const queues = sysvLeftovers();
  for (const { id } of queues) {
    try {
      execFileSync('ipcrm', ['-q', String(id)], { stdio: 'ignore' });
    } catch {}
  }
  if (queues.length > 0) {
    const keys = queues.map(({ key }) => `0x${(key >>> 0).toString(16)}`);
    console.error(`FAIL: tests left ${queues.length} System V message queue(s): ${keys.join(', ')}`);
    process.exitCode = 1;
  }
  // Shared memory segments and semaphore sets (lib/primitives/sysv-shm.ts, sysv-sem.ts), the same way.
  for (const [table, flag, what] of [
    ['shm', '-m', 'System V shared memory segment(s)'],
    ['sem', '-s', 'System V semaphore set(s)'],
  ] as const) {
    const objects = sysvLeftovers(table);
    for (const { id } of objects) {
      try {
        execFileSync('ipcrm', [flag, String(id)], { stdio: 'ignore' });
      } catch {}
    }
    if (objects.length > 0) {
      const keys = objects.map(({ key }) => `0x${(key >>> 0).toString(16)}`);
      console.error(`FAIL: tests left ${objects.length} ${what}: ${keys.join(', ')}`);
      process.exitCode = 1;
    }
  }
  if (!mqueueListable && process.env.CI) {
    console.error(`FAIL: missing prerequisite: the mqueue filesystem on ${MQUEUE_DIR} (CI must check POSIX mq leaks)`);
    process.exitCode = 1;
  }
  const mqs = mqueueLeftovers();
  for (const name of mqs) fs.rmSync(path.join(MQUEUE_DIR, name), { force: true });
  if (mqs.length > 0) {
    console.error(`FAIL: tests left ${mqs.length} POSIX message queue(s) in ${MQUEUE_DIR}: ${mqs.join(', ')}`);
    process.exitCode = 1;
  }
  if (!registryBefore && fs.existsSync(FIFO_REGISTRY)) {
    fs.rmSync(FIFO_REGISTRY, { force: true });
    console.error(`FAIL: tests left the FIFO registry ${FIFO_REGISTRY} behind (a FIFO not unlinked?)`);
    process.exitCode = 1;
  }
  const tmp = tmpLeftovers();
  for (const name of tmp) fs.rmSync(path.join(os.tmpdir(), name), { force: true, recursive: true });
  if (tmp.length > 0) {
    console.error(`FAIL: tests left ${tmp.length} file(s) in ${os.tmpdir()}: ${tmp.join(', ')}`);
    process.exitCode = 1;
  }
}
