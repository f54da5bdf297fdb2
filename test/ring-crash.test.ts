/**
 * Producers SIGKILLed at random moments (holding the producer lock, mid-claim,
 * mid-copy) must leave no torn message and no stuck lock: every message whose
 * push had returned is delivered, in order, once, and the other processes go on.
 */
import { describe, expect, it } from 'vitest';
import { RingBuffer, SharedMemory } from '../lib/index.js';
import { checkMessage } from './fixtures/ring-messages.mjs';
import { nextMessage, runFixture, uniqueName } from './helpers.js';

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
    const lastPushed = new Int32Array(progress.buffer);
    const received = new Map<number, number>(); // producer id -> last seq received
    let stop = false;
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
      const steady = runFixture('ring-producer.mjs', [ring.name, String(STEADY), '20000', '0', '2000', 'mixed']);
      for (let id = 1; id <= KILLS; id++) {
        const victim = runFixture('ring-producer.mjs', [
          ring.name,
          String(id),
          '1000000',
          '0',
          '8192',
          'mixed',
          progress.name,
        ]);
        await nextMessage(victim.child);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 8));
        victim.child.kill('SIGKILL');
        expect((await victim.done).signal).toBe('SIGKILL');
      }
      const steadyResult = await steady.done;
      expect(steadyResult.stderr).toBe('');
      expect(steadyResult.code).toBe(0);
    } finally {
      stop = true;
      await consuming;
    }
    expect(received.get(STEADY)).toBe(20000);
    let killedMidway = 0;
    for (let id = 1; id <= KILLS; id++) {
      const pushed = Atomics.load(lastPushed, id);
      const got = received.get(id) ?? 0;
      // Everything whose push returned arrived; at most one batch more was published but not yet recorded.
      expect(got).toBeGreaterThanOrEqual(pushed);
      expect(got - pushed).toBeLessThanOrEqual(8);
      if (pushed > 0) killedMidway++;
    }
    expect(killedMidway).toBeGreaterThan(KILLS / 2); // most were killed while pushing, not before
    expect(ring.stats().lockRecoveries).toBeGreaterThan(0); // some died holding the producer lock
    ring.close();
    ring.unlink();
    progress.close();
    progress.unlink();
  }, 120_000);
});
