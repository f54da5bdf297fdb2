/**
 * Global teardown: fails the run if any test of this run left a kernel object
 * behind in /dev/shm (shared memory segments and named semaphores), and
 * removes it. Objects of other runs (another checkout testing at the same
 * time) are left alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runPrefix } from './helpers.js';

function leftovers(): string[] {
  const prefix = runPrefix();
  return fs.readdirSync('/dev/shm').filter((name) => name.includes(prefix));
}

export function setup(): void {
  // Forked test workers inherit this, so their names carry this run's id.
  process.env.SHMKIT_TEST_RUN = String(process.pid);
}

export function teardown(): void {
  const left = leftovers();
  for (const name of left) fs.rmSync(path.join('/dev/shm', name), { force: true });
  if (left.length > 0) {
    // vitest ignores errors thrown here: fail the run through the exit code.
    console.error(`FAIL: tests left ${left.length} object(s) in /dev/shm: ${left.join(', ')}`);
    process.exitCode = 1;
  }
}
