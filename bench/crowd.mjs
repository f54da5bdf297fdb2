// The --crowd rows of `shmkit bench`: the wake latency of one async futex
// wait while `pending` other async waits of the same process sleep, beside
// the same round trip with none pending, in the same run and placement.
// Async futex waits share waiter threads (each sleeps in one futex_waitv on up
// to 127 words, docs/api.md "Wait options"); a wait among 10,000 must not wake
// slower than one alone. The two ends are in bench/crowd-ping.mjs.
import * as shmkit from 'shmkit';
import { CROWD_ID } from './crowd-ping.mjs';
import { percentilesUs } from './histogram.mjs';
import { failure } from './message.mjs';
import { TASKSET } from './placement.mjs';

/** --crowd given without a number. */
export const DEFAULT_CROWD = 10_000;
/** Words of the ping-pong segment: PING and PONG of bench/transports.mjs fit in it. */
const PING_PONG_BYTES = 128;

const LABEL = 'futex.wait (async) round trip';

/**
 * The two rows of one placement: { alone, crowded }, each a latency row (percentiles in µs)
 * with `pending` (other waits pending: 0, or `pending`); crowded.ratio = its p50 ÷ alone's
 * (the "× alone" column: 1.00 = no slower), crowded.crowd = what the crowd cost and how it
 * settled. res: the harness's resources; startChild(res, cfg, options) forks bench/child.mjs.
 */
export async function crowdCase(res, startChild, options, placement) {
  const pending = options.crowd;
  const base = { primitive: CROWD_ID, label: LABEL, group: 'shmkit', size: 4, placement: placement.id, status: 'ok' };
  const alone = { ...base, pending: 0 };
  const crowded = { ...base, pending };
  const both = (fields) => ({ alone: { ...alone, ...fields }, crowded: { ...crowded, ...fields } });
  if (!shmkit.capabilities.futex) return both({ status: 'skipped', reason: 'futex(2) is Linux-only' });
  const pin = (i) => (placement.cpus ? { cpu: placement.cpus[i], tasksetPath: TASKSET } : {});
  const timeoutMs = Math.max(120_000, options.duration * options.repeat * 40_000);
  const children = [];
  try {
    const resources = { a: segment(res, PING_PONG_BYTES), b: segment(res, pending * 4) };
    const cfg = { primitive: 'futex', resources, pending };
    const ping = startChild(res, { ...cfg, role: 'crowd-ping' }, { ...pin(0), timeoutMs });
    children.push(ping);
    await ping.expect('ready', 30_000);
    const echo = startChild(res, { ...cfg, role: 'crowd-echo' }, pin(1));
    children.push(echo);
    await echo.expect('ready', 30_000);
    ping.send({
      ctl: 'go',
      runs: options.repeat,
      rounds: options.rounds,
      warm: Math.max(20, Math.round(options.rounds / 10)),
      maxMs: options.duration * 1000,
    });
    // An echo that finds a message out of order dies: that fails the case instead of hanging it.
    const result = await Promise.race([ping.expect('samples', timeoutMs), echo.dead]);
    Object.assign(alone, percentilesUs(result.alone), { ratio: 1 });
    Object.assign(crowded, percentilesUs(result.crowded), { crowd: result.crowd });
    crowded.ratio = crowded.p50Us / alone.p50Us;
    crowded.p99Ratio = crowded.p99Us / alone.p99Us;
    return { alone, crowded };
  } catch (error) {
    // Without futex_waitv (Linux < 5.16, a seccomp filter, SHMKIT_NO_FUTEX_WAITV=1) each futex
    // wait holds a pool thread, and a crowd larger than the pool is refused: nothing to measure.
    if (/ERR_SHMKIT_TOO_MANY_WAITS/.test(error?.message)) {
      const reason = `async futex waits do not share threads here (no futex_waitv): ${error.message}`;
      return both({ status: 'skipped', reason });
    }
    return both(failure(error));
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

/** A fresh SharedMemory segment of `size` bytes (zeroed), unlinked with the case. */
function segment(res, size) {
  const name = res.name();
  res.track(() => shmkit.SharedMemory.unlink(name));
  const memory = shmkit.SharedMemory.create(name, { size });
  res.track(() => memory.close());
  return name;
}
