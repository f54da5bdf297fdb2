/**
 * Producers SIGKILLed at random moments (holding the producer lock, mid-claim,
 * mid-copy) must leave no torn message and no stuck lock: every message whose
 * push had returned is delivered, in order, once, and the other processes go on.
 */
import { describe, expect, it } from 'vitest';
import { RingBuffer, SharedMemory } from '../lib/index.js';
import { checkMessage } from './fixtures/ring-messages.mjs';
import { nextMessage, runFixture, seededRandom, uniqueName } from './helpers.js';

const KILLS = 100;
const STEADY = 1000; // id of a producer that is never killed

describe('RingBuffer under crashing producers', () => {
  it(`survives ${KILLS} producers killed with SIGKILL at random moments`, async () => {
    const ring = RingBuffer.create(uniqueName('crash'), {
      capacityBytes: 1 << 20,
      producers: 'multi',
      consumers: 'multi',
    });
    const progress = SharedMemory.create(uniqueName('progress'), { size: 4 * 2048 });
    const random = seededRandom(); // the kill moments; SHMKIT_TEST_SEED replays a failed run
    const lastPushed = new Int32Array(progress.buffer);
    const received = new Map<number, number>(); // producer id -> last seq received
    let stop = false;
    const cleanUp = () => {
      for (const handle of [ring, progress]) {
        handle.close();
        handle.unlink();
      }
    };
    const consuming = (async () => {
      while (!stop || ring.stats().depthBytes > 0) {
        const message = await ring.pop({ timeoutMs: 50 }).catch((error) => {
          if (error.code === 'ETIMEDOUT') return undefined;
          throw error;
        });
        if (!message) continue;
        const { producer, seq } = checkMessage(message); // throws on a torn message
        const last = received.get(producer) ?? 0;
        if (seq !== last + 1) throw new Error(`producer ${producer}: seq ${seq} after ${last}`);
        received.set(producer, seq);
      }
    })();
    try {
      try {
        const steady = runFixture('ring-producer.mjs', [ring.name, String(STEADY), '20000', '0', '2000', 'mixed']);
        for (let id = 1; id <= KILLS; id++) await killWhilePushing(id);
        const steadyResult = await steady.done;
        expect(steadyResult.stderr).toBe('');
        expect(steadyResult.code).toBe(0);
      } finally {
        stop = true;
        await consuming;
      }
      expect(received.get(STEADY)).toBe(20000);
      for (let id = 1; id <= KILLS; id++) {
        const pushed = Atomics.load(lastPushed, id);
        const got = received.get(id) ?? 0;
        expect(pushed).toBeGreaterThan(0); // killed while pushing, not before
        // Everything whose push returned arrived; at most one batch more was published but not recorded.
        expect(got).toBeGreaterThanOrEqual(pushed);
        expect(got - pushed).toBeLessThanOrEqual(8);
      }
      // About a third of the kills land while the victim holds the producer lock.
      expect(ring.stats().lockRecoveries).toBeGreaterThan(0);
    } finally {
      cleanUp();
    }

    async function killWhilePushing(id: number): Promise<void> {
      const args = [ring.name, String(id), '1000000', '0', '8192', 'mixed', progress.name];
      const victim = runFixture('ring-producer.mjs', args);
      await nextMessage(victim.child);
      // A random moment once it is pushing, however slow the machine is today.
      while (Atomics.load(lastPushed, id) === 0 && victim.child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      // The thing under test: a kill at a random moment (0-8 ms into its pushing).
      await new Promise((resolve) => setTimeout(resolve, random.next() * 8));
      victim.child.kill('SIGKILL');
      expect((await victim.done).signal).toBe('SIGKILL');
    }
  }, 120_000);
});
