/**
 * Global teardown: fails the run if any test left a kernel object behind in
 * /dev/shm (shared memory segments and named semaphores), and removes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TEST_PREFIX } from './helpers.js';

function leftovers(): string[] {
  return fs.readdirSync('/dev/shm').filter((name) => name.includes(TEST_PREFIX));
}

export function setup(): void {
  for (const name of leftovers()) fs.rmSync(path.join('/dev/shm', name), { force: true });
}

export function teardown(): void {
  const left = leftovers();
  for (const name of left) fs.rmSync(path.join('/dev/shm', name), { force: true });
  if (left.length > 0) throw new Error(`tests left ${left.length} object(s) in /dev/shm: ${left.join(', ')}`);
}
