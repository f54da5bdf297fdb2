// How the round trips of a ring row were served (bench/harness.mjs latency
// rows): while both sides spun, or after one of them parked on the futex.
// On two vCPUs that split decides the p50: a reply caught while spinning
// costs about a microsecond, one that needs a futex wake-up tens of them.
import { median } from './format.mjs';
import { PARKED_ECHO, PARKED_PINGER } from './transports.mjs';

/**
 * The split of a latency row's round trips. runs: ns per round trip, one array per run;
 * parked: pingLoop's PARKED_* bits, aligned with runs. Returns { rounds, spun, pingerParked,
 * echoParked, spunPct, spunP50Us?, parkedP50Us? } (a round trip is `spun` when neither side's
 * wait parked; the two park counts may overlap), or undefined without `parked`.
 */
export function parkSplit(runs, parked) {
  if (!parked || parked.length !== runs.length) return undefined;
  const spunNs = [];
  const parkedNs = [];
  let pingerParked = 0;
  let echoParked = 0;
  runs.forEach((samples, r) => {
    samples.forEach((ns, i) => {
      const bits = parked[r][i];
      if (bits & PARKED_PINGER) pingerParked++;
      if (bits & PARKED_ECHO) echoParked++;
      (bits === 0 ? spunNs : parkedNs).push(ns);
    });
  });
  const rounds = spunNs.length + parkedNs.length;
  if (rounds === 0) return undefined;
  const out = { rounds, spun: spunNs.length, pingerParked, echoParked, spunPct: (spunNs.length / rounds) * 100 };
  if (spunNs.length > 0) out.spunP50Us = median(spunNs) / 1000;
  if (parkedNs.length > 0) out.parkedP50Us = median(parkedNs) / 1000;
  return out;
}
