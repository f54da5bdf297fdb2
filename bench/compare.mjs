// `shmkit bench --compare previous.json`: each row of this run against the
// same row of an earlier run's JSON (a user's regression check). A change
// counts only when the two runs' ranges (min..max over their measured runs) do
// not overlap; otherwise it is "within noise". See docs/benchmarks.md.
import { readFileSync } from 'node:fs';
import { fixed, rate, sizeLabel } from './format.mjs';

/** The schemas whose rows can be compared (the row keys and the spread fields are the same). */
export const COMPARABLE = ['shmkit-bench/2', 'shmkit-bench/3'];

/**
 * Reads a result written by --json. Throws an Error with code ERR_SHMKIT_BENCH_INPUT (and the
 * path) when the file cannot be read, is not JSON, or is not a result of a comparable schema.
 */
export function loadResult(path) {
  const fail = (why) => Object.assign(new Error(`${path}: ${why}`), { code: 'ERR_SHMKIT_BENCH_INPUT', path });
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw fail(`cannot be read (${error.code ?? error.message})`);
  }
  let result;
  try {
    result = JSON.parse(text);
  } catch {
    throw fail('is not JSON');
  }
  if (!COMPARABLE.includes(result?.schema)) {
    throw fail(`is not a shmkit bench result of schema ${COMPARABLE.join(' or ')} (schema: ${result?.schema})`);
  }
  for (const key of ['throughput', 'latency']) if (!Array.isArray(result[key])) throw fail(`has no ${key} array`);
  return result;
}

const PLACEMENTS = { cross: 'across vCPUs', same: 'one vCPU', unpinned: 'unpinned' };

/**
 * The comparable rows of a result: { key, section, label, better: 'higher' | 'lower', row,
 * value?: { median, min, max } } (value missing when the row did not run or failed).
 */
function comparableRows(result) {
  const out = [];
  // objects / objectLatency: the object rows (--payload object), where a result has them.
  const throughputLike = [
    ['throughput', result.throughput, (r) => `${r.primitive} ${r.size}`, (r) => `${r.label}, ${sizeLabel(r.size)}`],
    ['objects', result.objects ?? [], (r) => r.primitive, (r) => r.label],
  ];
  for (const [section, rows, key, label] of throughputLike) {
    for (const r of rows) {
      out.push({
        key: `${section} ${key(r)}`,
        section,
        label: label(r),
        better: 'higher',
        row: r,
        value: r.status === 'ok' ? r.msgsPerSec : undefined,
      });
    }
  }
  const latencyLike = [
    ['latency', result.latency, (r) => r.primitive, (r) => r.label],
    ['objectLatency', result.objectLatency ?? [], (r) => r.primitive, (r) => r.label],
    [
      'wakeup',
      result.wakeup ?? [],
      (r) => `${r.primitive} ${r.placement}`,
      (r) => `${r.label}, ${PLACEMENTS[r.placement] ?? r.placement}`,
    ],
    [
      'crowd',
      result.crowd ?? [],
      (r) => `${r.placement} ${r.pending === 0 ? 'alone' : 'crowded'}`,
      (r) => `${PLACEMENTS[r.placement] ?? r.placement}, ${r.pending === 0 ? 'alone' : `${r.pending} pending`}`,
    ],
  ];
  for (const [section, rows, key, label] of latencyLike) {
    for (const r of rows) {
      out.push({
        key: `${section} ${key(r)}`,
        section,
        label: label(r),
        better: 'lower',
        row: r,
        value: r.status === 'ok' && r.p50RunsUs ? r.p50RunsUs : undefined,
      });
    }
  }
  return out;
}

/**
 * Compares two results row by row. Returns [{ section, key, label, verdict, before?, after?,
 * changePct? }]: verdict 'faster' | 'slower' (the ranges do not overlap; changePct: the
 * median's change in %, + = larger), 'noise' (they overlap), 'not-ok' (skipped or failed in
 * either run), 'only-before' | 'only-after' (the row is missing in the other run).
 */
export function compareResults(before, after) {
  const old = new Map(comparableRows(before).map((c) => [c.key, c]));
  const now = comparableRows(after);
  const seen = new Set();
  const out = [];
  for (const c of now) {
    seen.add(c.key);
    const prev = old.get(c.key);
    const base = { section: c.section, key: c.key, label: c.label, better: c.better };
    if (!prev) {
      out.push({ ...base, verdict: 'only-after', after: c.value });
      continue;
    }
    if (!prev.value || !c.value) {
      out.push({ ...base, verdict: 'not-ok', before: prev.value, after: c.value, why: notOk(prev.row, c.row) });
      continue;
    }
    const changePct = (c.value.median / prev.value.median - 1) * 100;
    const overlap = c.value.min <= prev.value.max && prev.value.min <= c.value.max;
    const larger = c.value.median > prev.value.median;
    const verdict = overlap ? 'noise' : larger === (c.better === 'higher') ? 'faster' : 'slower';
    out.push({ ...base, verdict, before: prev.value, after: c.value, changePct });
  }
  for (const c of old.values()) {
    if (!seen.has(c.key))
      out.push({
        section: c.section,
        key: c.key,
        label: c.label,
        better: c.better,
        verdict: 'only-before',
        before: c.value,
      });
  }
  return out;
}

function notOk(before, after) {
  if (before.status === after.status && before.reason === after.reason) return `${before.status} in both runs`;
  const what = (r) => (r.status === 'ok' ? 'ok' : `${r.status}${r.reason ? `: ${r.reason}` : ''}`);
  return `before ${what(before)}; now ${what(after)}`;
}

function valueText(value, better) {
  if (!value) return '–';
  return better === 'higher' ? rate(value.median) : `${fixed(value.median)} µs`; // the section title says /s
}

function rangeText(value, better) {
  if (!value) return '';
  const show = better === 'higher' ? rate : (v) => fixed(v);
  return `[${show(value.min)}–${show(value.max)}]`;
}

const VERDICTS = {
  faster: (c) => `${signed(c.changePct)} (faster)`,
  slower: (c) => `${signed(c.changePct)} (slower)`,
  noise: (c) => `within noise (${signed(c.changePct)}, ranges overlap)`,
  'not-ok': (c) => `not compared: ${c.why}`,
  'only-before': () => 'only in the previous run',
  'only-after': () => 'only in this run',
};

function signed(pct) {
  const text = `${Math.abs(pct).toFixed(1)} %`;
  return pct >= 0 ? `+${text}` : `−${text}`;
}

const TITLES = {
  throughput: 'Throughput (msgs/s, median of the runs [min–max]; higher is faster)',
  latency: 'Round-trip latency (p50 µs, median of the runs [min–max]; lower is faster)',
  objects: 'Objects (objects/s, median of the runs [min–max]; higher is faster)',
  objectLatency: 'Object round trips (p50 µs)',
  wakeup: 'Wake-up latency, pinned (p50 µs)',
  crowd: 'Wake latency among pending waits (p50 µs)',
};

/** The comparison as text: one line per row, by section, then a count of each verdict. */
export function renderComparison(comparison, before, after) {
  const lines = [
    `Compared with ${before.date ?? 'an earlier run'} (${before.schema}; machine: ${before.machine?.cpuModel ?? '?'}, ` +
      `${before.machine?.cores ?? '?'} cores, Node ${before.machine?.node ?? '?'}, shmkit ${before.machine?.shmkit ?? '?'}):`,
  ];
  const pinned = (r) => r.options?.pin ?? 'unpinned';
  if (pinned(before) !== pinned(after)) {
    lines.push(`note: the runs were placed differently (--pin: before ${pinned(before)}, now ${pinned(after)})`);
  }
  if (Boolean(before.options?.quick) !== Boolean(after.options?.quick)) {
    lines.push('note: one run is --quick (fixed counts, short warm-up), the other is not');
  }
  for (const section of Object.keys(TITLES)) {
    const rows = comparison.filter((c) => c.section === section);
    if (rows.length === 0) continue;
    lines.push('', `${TITLES[section]}:`);
    const width = Math.max(...rows.map((c) => c.label.length));
    for (const c of rows) {
      const was = `${valueText(c.before, c.better)} ${rangeText(c.before, c.better)}`.trim();
      const now = `${valueText(c.after, c.better)} ${rangeText(c.after, c.better)}`.trim();
      lines.push(`  ${c.label.padEnd(width)}  ${was} → ${now}: ${VERDICTS[c.verdict](c)}`);
    }
  }
  const count = (v) => comparison.filter((c) => c.verdict === v).length;
  lines.push(
    '',
    `${count('faster')} faster, ${count('slower')} slower, ${count('noise')} within noise, ` +
      `${count('not-ok')} not compared, ${count('only-before')} only in the previous run, ${count('only-after')} only in this run`,
  );
  return lines.join('\n');
}
