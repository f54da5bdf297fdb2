/**
 * Names of the kernel objects tests create: random, and carrying the run's
 * prefix so that global-leaks.ts finds leftovers. Kept apart from helpers.ts,
 * so the global setup loads neither vitest's test API nor the addon.
 */
import { randomBytes } from 'node:crypto';

/** Every object a test creates starts with this, so global-leaks.ts can find leftovers. */
export const TEST_PREFIX = 'shmkit-test-';

/**
 * The prefix of this vitest run (set by global-leaks.ts), so that two runs at
 * once on one machine never judge each other's objects.
 */
export function runPrefix(): string {
  return `${TEST_PREFIX}${process.env.SHMKIT_TEST_RUN ?? process.ppid}-`;
}

export function uniqueName(kind: string): string {
  return `/${runPrefix()}${kind}-${randomBytes(6).toString('hex')}`;
}
