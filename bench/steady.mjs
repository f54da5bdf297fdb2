// Steady state for `shmkit bench` (bench/harness.mjs): a throughput case first
// runs warm-up windows until two consecutive windows agree on the rate (the
// JIT has settled, the caches and page tables are warm, the two processes have
// found their CPUs), then sizes its measured runs by time, not by a fixed
// count. --quick keeps the old short form: one warm-up run of a tenth of the
// count, then fixed counts. See docs/benchmarks.md, Method.

/** The warm-up and sizing rules of the default (steady) mode. */
export const STEADY = {
  /** Seconds one warm-up window aims at. */
  windowSeconds: 0.2,
  /** Two consecutive windows within this fraction of the faster one: stable. */
  tolerance: 0.1,
  /** Seconds of warm-up at most; then the case is measured anyway and marked not stable. */
  maxWarmSeconds: 5,
  /** Seconds one measured run may take at most (× --duration if that is longer): beyond it, fewer messages (marked *). */
  maxRunSeconds: 3,
  /** Warm-up seconds of a latency case (after its first warm-up rounds). */
  latencyWarmSeconds: 0.3,
};

function rateOf(count, seconds) {
  return (count - 1) / seconds;
}

/**
 * Warm-up windows until the rate is stable. runWindow(count) → { seconds } (first to last
 * message, as a measured run). firstCount: messages of the first window. Resolves with
 * { windows: [{ count, seconds, msgsPerSec }], seconds (wall), messages, stable, msgsPerSec
 * (the last window's), last (runWindow's last answer) }.
 */
export async function warmUp(runWindow, firstCount, rules = STEADY) {
  const windows = [];
  const started = performance.now();
  let count = Math.max(2, firstCount);
  let last;
  let stable = false;
  for (;;) {
    last = await runWindow(count);
    const msgsPerSec = rateOf(count, last.seconds);
    windows.push({ count, seconds: last.seconds, msgsPerSec });
    stable = isStable(windows, rules);
    if (stable) break;
    if ((performance.now() - started) / 1000 >= rules.maxWarmSeconds) break;
    // The next window: windowSeconds at the rate just seen, growing at most 100× a step (10×
    // when the window was too short for the clock to see).
    const next = Number.isFinite(msgsPerSec) ? Math.ceil(msgsPerSec * rules.windowSeconds) : count * 10;
    count = Math.max(2, Math.min(count * 100, next));
  }
  return {
    windows,
    seconds: (performance.now() - started) / 1000,
    messages: windows.reduce((sum, w) => sum + w.count, 0),
    stable,
    // The last rate the clock could see (sizing a run on Infinity would size it on nothing).
    msgsPerSec: windows.findLast((w) => Number.isFinite(w.msgsPerSec))?.msgsPerSec ?? Number.NaN,
    last,
  };
}

/** Whether the last two windows each lasted half a window or more and agree within the tolerance. */
export function isStable(windows, rules = STEADY) {
  if (windows.length < 2) return false;
  const [a, b] = windows.slice(-2);
  if (Math.min(a.seconds, b.seconds) < rules.windowSeconds / 2) return false;
  return Math.abs(a.msgsPerSec - b.msgsPerSec) <= rules.tolerance * Math.max(a.msgsPerSec, b.msgsPerSec);
}

/**
 * Messages per measured run. Steady: enough for `duration` seconds at `rate` and never fewer
 * than `common`, unless `common` alone would take longer than maxRunSeconds (then that long,
 * reduced). Quick: `common`, reduced to `rate × duration` when it would take more than 1.5 ×
 * duration (the old rule). fixed (--count): exactly that. Returns { count, reduced }.
 * @param {{ common: number, rate: number, duration: number, quick?: boolean, fixed?: number }} sizing
 */
export function runCount({ common, rate, duration, quick, fixed }, rules = STEADY) {
  if (fixed !== undefined) return { count: fixed, reduced: false };
  if (!Number.isFinite(rate) || rate <= 0) return { count: common, reduced: false };
  if (quick) {
    if (common / rate <= 1.5 * duration) return { count: common, reduced: false };
    return { count: Math.max(Math.min(common, 20), Math.floor(rate * duration)), reduced: true };
  }
  const cap = Math.max(rules.maxRunSeconds, duration);
  if (common / rate > cap) return { count: Math.max(Math.min(common, 20), Math.floor(rate * cap)), reduced: true };
  return { count: Math.max(common, Math.ceil(rate * duration)), reduced: false };
}

/**
 * The measured part of a case that sizes its own runs (the call and fan-out rows): a warm-up
 * (--quick: one run of a tenth of the count; else warmUp's windows), then options.repeat runs of
 * runCount's size. runOnce(n) → { seconds, … } runs n messages (or calls); step(text) reports
 * progress ('warm-up', 'warm-up 2', 'run 1/3'). Resolves with { warmup: { count, seconds },
 * stable (undefined with --quick), count, reduced, runs: runOnce's answers of the measured runs }.
 */
export async function measureSteady(runOnce, { common, options, step }) {
  const first = Math.max(2, Math.round((options.count ?? common) / 10));
  let rate;
  let warmup;
  let stable;
  if (options.quick) {
    step('warm-up');
    const warm = await runOnce(first);
    rate = first / warm.seconds;
    warmup = { count: first, seconds: warm.seconds };
  } else {
    let w = 0;
    const warm = await warmUp((n) => {
      step(`warm-up ${++w}`);
      return runOnce(n);
    }, first);
    rate = warm.msgsPerSec;
    warmup = { count: warm.messages, seconds: warm.seconds };
    stable = warm.stable;
  }
  const sized = runCount({ common, rate, duration: options.duration, quick: options.quick, fixed: options.count });
  const runs = [];
  for (let run = 1; run <= options.repeat; run++) {
    step(`run ${run}/${options.repeat}`);
    runs.push(await runOnce(sized.count));
  }
  return { warmup, stable, count: sized.count, reduced: sized.reduced, runs };
}
