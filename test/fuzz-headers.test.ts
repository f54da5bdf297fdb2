/**
 * Seeded fuzz of the headers and frames of rings, typed queues and mutexes:
 * a hostile peer's bytes in shared memory must never crash, hang or mislead
 * a process (docs/building.md, "Sanitizers and fuzzing"). The cases run in
 * child processes (test/fixtures/fuzz-headers.mjs), one per batch, so a
 * crash becomes a failure naming the batch's seed instead of killing the
 * runner.
 *
 * Budget: SHMKIT_FUZZ_ITERATIONS cases (default 600, a few seconds);
 * `SHMKIT_FUZZ_ITERATIONS=100000 npm run fuzz` runs longer. A failure prints
 * the run's seed (SHMKIT_TEST_SEED replays the run) and the command that
 * replays the failing batch alone.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runFixture, seededRandom, uniqueName } from './helpers.js';

const ITERATIONS = Number(process.env.SHMKIT_FUZZ_ITERATIONS ?? 600);
const BATCH = 200;
/** A batch that runs this long hangs: every wait in it is bounded by a few ms (a hang guard, not a speed check). */
const BATCH_LIMIT_MS = 120_000;

/** The errors a hostile header or frame may cause: all of them say what is wrong, with a code. */
const EXPECTED_CODES = new Set([
  'ERR_SHMKIT_RING_FORMAT',
  'ERR_SHMKIT_RING_CORRUPT',
  'ERR_SHMKIT_SCHEMA_MISMATCH',
  'ERR_SHMKIT_RECORD_SIZE',
  'ERR_SHMKIT_MUTEX_FORMAT',
  'ERR_OUT_OF_RANGE', // tryPopInto with a target smaller than the next message
  'ETIMEDOUT', // a lock word naming a live process, a full ring, an empty one
]);

interface Report {
  cases: number;
  operations: number;
  worked: number;
  codes: Record<string, number>;
}

/** Removes what a crashed batch left behind (its objects are `<prefix>-<kind>`). */
function removeLeftovers(prefix: string): void {
  const stem = prefix.slice(1);
  for (const file of fs.readdirSync('/dev/shm')) {
    if (file.startsWith(`${stem}-`)) fs.rmSync(`/dev/shm/${file}`, { force: true });
  }
}

async function runBatch(seed: number, cases: number): Promise<Report> {
  const prefix = uniqueName('fuzz');
  const replay = `node test/fixtures/fuzz-headers.mjs ${prefix} ${seed} ${cases}`;
  const { child, done } = runFixture('fuzz-headers.mjs', [prefix, String(seed), String(cases)]);
  const guard = setTimeout(() => child.kill('SIGKILL'), BATCH_LIMIT_MS);
  const result = await done.finally(() => clearTimeout(guard));
  removeLeftovers(prefix);
  const [message] = result.messages as { report?: Report; failure?: { where: string; error: string } }[];
  if (message?.failure) {
    expect.fail(
      `fuzz batch (seed ${seed}) broke the contract at ${message.failure.where}:\n${message.failure.error}\nreplay: ${replay}`,
    );
  }
  if (result.code !== 0 || !message?.report) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    const hung = result.signal === 'SIGKILL' ? ` (it hung: still running after ${BATCH_LIMIT_MS} ms)` : '';
    expect.fail(`fuzz batch (seed ${seed}) ${how}${hung}; stderr:\n${result.stderr}\nreplay: ${replay}`);
  }
  return message.report as Report;
}

describe('hostile bytes in headers and frames', () => {
  it(
    'rings, typed queues and mutexes: every open, pop, peek, push and lock works or throws a coded error',
    async () => {
      const random = seededRandom();
      const codes = new Map<string, number>();
      let worked = 0;
      for (let done = 0; done < ITERATIONS; done += BATCH) {
        const report = await runBatch(random.int(2 ** 32), Math.min(BATCH, ITERATIONS - done));
        worked += report.worked;
        for (const [what, count] of Object.entries(report.codes)) codes.set(what, (codes.get(what) ?? 0) + count);
      }
      const unexpected = [...codes.keys()].filter((what) => !EXPECTED_CODES.has(what.split(': ')[1] as string));
      expect(unexpected, 'operations that failed with an unexpected code').toEqual([]);
      // The fuzz must reach past open(): operations that work and operations that find corruption.
      expect(worked).toBeGreaterThan(0);
      expect(
        [...codes.keys()].some((what) => what.endsWith('ERR_SHMKIT_RING_CORRUPT') && !what.includes(' open:')),
      ).toBe(true);
    },
    Math.ceil(ITERATIONS / BATCH) * BATCH_LIMIT_MS,
  );
});
