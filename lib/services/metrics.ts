/**
 * A service's metrics in this process: per-method call durations (an HDR
 * histogram each, hdr-histogram-js), and the Prometheus text exposition of
 * them together with the counters of the shared header. The counters live
 * in the header (any process can read them: `shmkit stat`); the histograms
 * only here, in the server's process.
 */
import { build } from 'hdr-histogram-js';
import type { CounterName } from './format.js';

/** One method's call durations, from the request's arrival to its answer (ms → reported in µs). */
export interface MethodStats {
  /** Calls answered (result, error or the end of a stream). */
  calls: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  meanUs: number;
}

type Histogram = ReturnType<typeof build>;

export class MethodMetrics {
  readonly #histograms = new Map<string, Histogram>();

  /** Records one answered call of `method` that took `ms` milliseconds. */
  record(method: string, ms: number): void {
    let histogram = this.#histograms.get(method);
    if (!histogram) {
      // 1 µs to 1 h at 3 significant digits: a few KiB per method.
      histogram = build({
        lowestDiscernibleValue: 1,
        highestTrackableValue: 3_600_000_000,
        numberOfSignificantValueDigits: 3,
      });
      this.#histograms.set(method, histogram);
    }
    histogram.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(ms * 1000))));
  }

  /** Every method's durations so far. */
  snapshot(): Record<string, MethodStats> {
    const out: Record<string, MethodStats> = {};
    for (const [method, h] of this.#histograms) {
      out[method] = {
        calls: h.totalCount,
        p50Us: h.getValueAtPercentile(50),
        p90Us: h.getValueAtPercentile(90),
        p99Us: h.getValueAtPercentile(99),
        maxUs: h.maxValue,
        meanUs: h.mean,
      };
    }
    return out;
  }
}

/** Counters that go down as well as up: Prometheus gauges; the rest are counters (`_total`). */
const GAUGES = new Set<CounterName>(['inFlight', 'peakInFlight']);

/** `callsStarted` → `calls_started`. */
function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A label value, escaped as the exposition format asks (backslash, double quote, newline). */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The Prometheus text exposition (version 0.0.4) of a service's counters and
 * per-method durations: `shmkit_service_<counter>_total{service="/calc"}`,
 * gauges for in-flight calls, and a summary
 * `shmkit_service_call_duration_seconds{service, method, quantile}`.
 */
export function metricsText(
  service: string,
  counters: Record<CounterName, number>,
  methods: Record<string, MethodStats>,
): string {
  const lines: string[] = [];
  const svc = `service="${label(service)}"`;
  for (const [key, value] of Object.entries(counters) as [CounterName, number][]) {
    const gauge = GAUGES.has(key);
    const metric = `shmkit_service_${snake(key)}${gauge ? '' : '_total'}`;
    lines.push(`# TYPE ${metric} ${gauge ? 'gauge' : 'counter'}`, `${metric}{${svc}} ${value}`);
  }
  const summary = 'shmkit_service_call_duration_seconds';
  lines.push(`# HELP ${summary} Time from a call's arrival at the server to its answer.`, `# TYPE ${summary} summary`);
  for (const [method, m] of Object.entries(methods)) {
    const at = `${svc},method="${label(method)}"`;
    for (const [q, us] of [
      ['0.5', m.p50Us],
      ['0.9', m.p90Us],
      ['0.99', m.p99Us],
    ] as const) {
      lines.push(`${summary}{${at},quantile="${q}"} ${us / 1e6}`);
    }
    lines.push(`${summary}_sum{${at}} ${(m.meanUs * m.calls) / 1e6}`, `${summary}_count{${at}} ${m.calls}`);
  }
  return `${lines.join('\n')}\n`;
}
