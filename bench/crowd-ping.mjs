// The two ends of the --crowd round trips of `shmkit bench` (bench/crowd.mjs),
// run in bench/child.mjs. The pinger waits for each reply with an async
// `await futex.wait(...)`, first with no other wait pending ("alone"), then
// with `pending` more async waits parked on other words of its process (the
// crowd: never woken while it measures), then wakes half of the crowd and
// aborts the rest and checks every one settled as it should. The echo is a
// peer process that copies each stamped counter back and checks its order.
import { setMaxListeners } from 'node:events';
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { nextControl, send } from './control.mjs';
import { dropHook, VerificationError } from './message.mjs';
import { futexEcho, PING, PONG } from './transports.mjs';

/** The SHMKIT_BENCH_DROP id of the --crowd rows. */
export const CROWD_ID = 'futex-wait';
/** A reply that takes longer than this (ms) fails the row instead of hanging it. */
const REPLY_TIMEOUT_MS = 10_000;

/** Threads of this process (/proc/self/task): the crowd's waiter threads show here. */
function threads() {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return null;
  }
}

/**
 * One round trip per call: stores message seq (as seq + 1: 0 means "none yet") in words[PING],
 * wakes the echo, awaits words[PONG] changing with futex.wait and checks it is the same
 * message. Returns the round trip in ns.
 */
function roundTripper(futex, words) {
  const drop = dropHook(CROWD_ID);
  let seq = 0;
  let last = 0;
  return async () => {
    const sent = drop(seq) ? seq + 1 : seq; // SHMKIT_BENCH_DROP: message 3 in place of 2
    const t0 = process.hrtime.bigint();
    Atomics.store(words, PING, sent + 1);
    futex.wake(words, PING, 1);
    let reply = Atomics.load(words, PONG);
    while (reply === last) {
      const result = await futex.wait(words, PONG, last, { timeoutMs: REPLY_TIMEOUT_MS });
      reply = Atomics.load(words, PONG);
      if (result === 'timed-out' && reply === last) throw new Error(`no reply to message ${seq} within 10 s`);
    }
    const ns = Number(process.hrtime.bigint() - t0);
    if (reply !== sent + 1) {
      throw new VerificationError(`expected message ${seq}, got sequence number ${reply - 1} back`);
    }
    last = reply;
    seq = sent + 1;
    return ns;
  };
}

/** `runs` runs of `rounds` round trips (the first run after `warm` unmeasured ones); ns per round trip. */
async function measure(roundTrip, { runs, rounds, warm, maxMs }) {
  const out = [];
  for (let run = 0; run < runs; run++) {
    const samples = [];
    const start = performance.now();
    const skip = run === 0 ? warm : 0;
    for (let i = 0; i < skip + rounds; i++) {
      const ns = await roundTrip();
      if (i >= skip) samples.push(ns);
      if (samples.length >= 100 && performance.now() - start > maxMs) break;
    }
    out.push(samples);
  }
  return out;
}

/**
 * Parks one async futex.wait on each of `view`'s words (all 0): the even ones to be woken, the
 * odd ones to be aborted (one AbortSignal for all of them). settle() then wakes the even
 * words (store 1, wake), aborts the odd ones, and resolves with the counts once every wait
 * has settled; early() counts the waits that ended before settle() (none may).
 */
function park(futex, view) {
  const controller = new AbortController();
  setMaxListeners(view.length, controller.signal); // one abort listener per odd wait, on purpose
  let releasing = false;
  let early = 0;
  let firstEarly; // e.g. ERR_SHMKIT_TOO_MANY_WAITS where futex waits take pool threads
  const outcomes = [];
  for (let i = 0; i < view.length; i++) {
    const woken = i % 2 === 0;
    outcomes.push(
      futex.wait(view, i, 0, woken ? {} : { signal: controller.signal }).then(
        (result) => {
          if (!releasing) {
            early++;
            firstEarly ??= `word ${i}: resolved '${result}'`;
          }
          return result === 'ok' && woken ? 'woken' : `word ${i}: resolved '${result}'`;
        },
        (error) => {
          if (!releasing) {
            early++;
            firstEarly ??= `word ${i}: ${error?.message ?? error}${error?.code ? ` (${error.code})` : ''}`;
          }
          return error?.name === 'AbortError' && !woken ? 'aborted' : `word ${i}: ${error?.message ?? error}`;
        },
      ),
    );
  }
  return {
    early: () => early,
    firstEarly: () => firstEarly,
    async settle() {
      releasing = true;
      for (let i = 0; i < view.length; i += 2) {
        Atomics.store(view, i, 1); // change the word before waking it, as every futex protocol does
        futex.wake(view, i, 1);
      }
      controller.abort();
      const settled = await Promise.all(outcomes);
      const count = (what) => settled.filter((s) => s === what).length;
      const wrong = settled.filter((s) => s !== 'woken' && s !== 'aborted');
      return { woken: count('woken'), aborted: count('aborted'), wrong };
    },
  };
}

/** The pinger: 'ready'; 'go' {runs, rounds, warm, maxMs} → 'samples' {alone, crowded, crowd}. */
export async function crowdPingRole(shmkit, cfg) {
  const { futex, SharedMemory } = shmkit;
  const words = new Int32Array(SharedMemory.open(cfg.resources.a).buffer);
  const crowdMemory = SharedMemory.open(cfg.resources.b);
  const view = new Int32Array(crowdMemory.buffer, 0, cfg.pending);
  await send({ ctl: 'ready' });
  const go = await nextControl();
  if (go.ctl !== 'go') return;
  const roundTrip = roundTripper(futex, words);
  const alone = await measure(roundTrip, go);
  const threadsAlone = threads();
  const t0 = performance.now();
  const crowd = park(futex, view);
  const parkMs = performance.now() - t0;
  const crowded = await measure(roundTrip, go);
  const threadsCrowded = threads();
  if (crowd.early() > 0) {
    throw new Error(`${crowd.early()} of the ${cfg.pending} parked waits ended unwoken, e.g. ${crowd.firstEarly()}`);
  }
  const t1 = performance.now();
  const { woken, aborted, wrong } = await crowd.settle();
  const settleMs = performance.now() - t1;
  if (wrong.length > 0) throw new Error(`${wrong.length} parked waits settled wrongly, e.g. ${wrong[0]}`);
  const stats = { pending: cfg.pending, parkMs, settleMs, woken, aborted, threadsAlone, threadsCrowded };
  await send({ ctl: 'samples', alone, crowded, crowd: stats });
}

/** The echo: copies each new words[PING] to words[PONG] and wakes the pinger; a message out of order fails it. */
export async function crowdEchoRole(shmkit, cfg) {
  const { futex, SharedMemory } = shmkit;
  const words = new Int32Array(SharedMemory.open(cfg.resources.a).buffer);
  await send({ ctl: 'ready' });
  futexEcho(futex, words); // blocks until killed (the pinger never sends -1)
}
