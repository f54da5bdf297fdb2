// The latency statistics of `shmkit bench`: every round trip of a row goes
// into one HDR histogram (bench/harness.mjs latency rows, bench/crowd.mjs).
import hdr from 'hdr-histogram-js';
import { spread } from './format.mjs';

/** Percentiles in µs (the field names say so) of round trips given in ns, one array per run. */
export function percentilesUs(runs) {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120e9,
    numberOfSignificantValueDigits: 3,
  });
  const p50s = [];
  for (const samples of runs) {
    const perRun = [...samples].sort((a, b) => a - b);
    if (perRun.length > 0) p50s.push(perRun[Math.floor(perRun.length / 2)] / 1000);
    for (const ns of samples) histogram.recordValue(Math.max(1, Math.round(ns)));
  }
  const us = (p) => histogram.getValueAtPercentile(p) / 1000;
  const out = {
    rounds: histogram.totalCount,
    p50Us: us(50),
    p90Us: us(90),
    p99Us: us(99),
    p999Us: us(99.9),
    maxUs: histogram.maxValue / 1000,
    meanUs: histogram.mean / 1000,
    p50RunsUs: spread(p50s),
  };
  histogram.destroy?.();
  return out;
}
