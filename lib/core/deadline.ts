/**
 * Deadlines of waits that retry or sleep in steps: milliseconds on
 * performance.now() (monotonic), with -1 meaning "no timeout" as in the
 * native convention of lib/core/pending.ts.
 */

/** The deadline of a wait of `timeoutMs` ms from now (-1: none, Infinity). */
export function deadlineOf(timeoutMs: number): number {
  return timeoutMs < 0 ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
}

/** Milliseconds left before `deadline`: -1 if it has no limit, else >= 0. */
export function remainingMs(deadline: number): number {
  return deadline === Number.POSITIVE_INFINITY ? -1 : Math.max(0, deadline - performance.now());
}
