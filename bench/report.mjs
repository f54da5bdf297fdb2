// Renders the result of bench/harness.mjs runBench(): the terminal table,
// CSV, Markdown, and the chart (echarts, server-side SVG; or HTML around it).
// echarts is an optional peer dependency (62 MB, only the chart needs it): it is
// imported on demand, and `shmkit bench --chart` checks for it before measuring.
import { writeFileSync } from 'node:fs';
import Table from 'cli-table3';
import { chartOption } from './chart.mjs';
import { fixed, rate, ratio, sizeLabel } from './format.mjs';
import { machineLine } from './machine.mjs';
import { LIVENESS_HEAD, livenessIdleLine, livenessRows, livenessText, livenessTitle } from './service-liveness.mjs';

function spreadPct(s) {
  if (!s || !(s.median > 0)) return '–';
  return `±${(((s.max - s.min) / 2 / s.median) * 100).toFixed(0)}%`;
}

/** Throughput rows, by size, fastest first; skipped and failed ones last in each size. */
export function sortedThroughput(result) {
  return [...result.throughput].sort(
    (a, b) => a.size - b.size || (b.msgsPerSec?.median ?? -1) - (a.msgsPerSec?.median ?? -1),
  );
}

export function sortedLatency(result) {
  const p50 = (r) => r.p50Us ?? Number.POSITIVE_INFINITY;
  return [...result.latency].sort((a, b) => p50(a) - p50(b));
}

function statusText(row) {
  if (row.status === 'skipped') return 'skipped';
  if (row.status === 'failed-verification') return 'FAILED verification';
  return 'FAILED';
}

function baselineLabel(result) {
  return result.primitives.find((p) => p.id === result.options.baseline)?.label ?? result.options.baseline;
}

/** The '% memcpy' and '% C floor' columns appear when a memcpy row or the C ring ran. */
function hasMemcpy(result) {
  return result.throughput.some((r) => r.ofMemcpy !== undefined);
}

function hasFloor(result) {
  return result.throughput.some((r) => r.ofFloor !== undefined);
}

const percent = (share) => (share === undefined ? '' : `${fixed(share * 100)}%`);

export function throughputHead(result) {
  const head = ['primitive', 'size', 'msgs/s', 'MB/s', 'spread', '× baseline', 'msgs/run', 'warm-up'];
  if (hasFloor(result)) head.push('% C floor');
  if (hasMemcpy(result)) head.push('% memcpy');
  return head;
}

/** The warm-up cell: its seconds, and 'not stable' when no two windows agreed in time (bench/steady.mjs). */
function warmupText(r) {
  if (!r.warmup) return '';
  const seconds = `${fixed(r.warmup.seconds)} s`;
  return r.stable === false ? `${seconds}, not stable` : seconds;
}

export function throughputRows(result) {
  const memcpy = hasMemcpy(result);
  const floor = hasFloor(result);
  return sortedThroughput(result).map((r) => {
    const row = r.msgsPerSec
      ? [
          r.label,
          sizeLabel(r.size),
          rate(r.msgsPerSec.median),
          fixed(r.MBps.median),
          spreadPct(r.msgsPerSec),
          ratio(r.ratio),
          `${r.count}${r.reduced ? '*' : ''}`,
          warmupText(r),
        ]
      : [r.label, sizeLabel(r.size), statusText(r), '', '', '', '', ''];
    if (floor) row.push(percent(r.ofFloor));
    if (memcpy) row.push(percent(r.ofMemcpy));
    return row;
  });
}

export const OBJECTS_HEAD = [
  'primitive',
  'objects/s',
  'spread',
  '× baseline',
  'objects/run',
  'p50 µs',
  'p99 µs',
  'p50 spread',
  'p50 × baseline',
];

/**
 * A table that pairs each transport's throughput row with its round-trip row, fastest
 * first: `rateOf` reads a row's rate, `cells(t)` / `latencyCells(l)` its columns; a missing or
 * failed half shows its status and blanks.
 */
function pairedRows(throughput, latency, rateOf, cells, latencyCells) {
  const ids = [...new Set([...throughput, ...latency].map((r) => r.primitive))];
  const perSec = (id) => rateOf(throughput.find((r) => r.primitive === id)) ?? -1;
  return ids
    .sort((a, b) => perSec(b) - perSec(a))
    .map((id) => {
      const t = throughput.find((r) => r.primitive === id);
      const l = latency.find((r) => r.primitive === id);
      const tp = t && rateOf(t) !== undefined ? cells(t) : [t ? statusText(t) : '', ...cells.blank];
      const lat = l?.p50Us !== undefined ? latencyCells(l) : [l ? statusText(l) : '', ...latencyCells.blank];
      return [(t ?? l).label, ...tp, ...lat];
    });
}

/** `fn` with the blanks a failed row gets in its place (one fewer than its cells: the status takes the first). */
const withBlanks = (fn, cells) => Object.assign(fn, { blank: Array(cells - 1).fill('') });
const runCount = (r) => `${r.count}${r.reduced ? '*' : ''}`;

/** The objects table: one row per object transport, its throughput and its round trip, fastest first. */
export function objectRows(result) {
  return pairedRows(
    result.objects ?? [],
    result.objectLatency ?? [],
    (t) => t?.msgsPerSec?.median,
    withBlanks((t) => [rate(t.msgsPerSec.median), spreadPct(t.msgsPerSec), ratio(t.ratio), runCount(t)], 4),
    withBlanks((l) => [fixed(l.p50Us), fixed(l.p99Us), spreadPct(l.p50RunsUs), ratio(l.ratio)], 4),
  );
}

function objectsTitle(result) {
  const o = result.options;
  return (
    `Objects: one JS object per message ({ id, method, ts, symbol, qty, side, tags }, ~${o.objectSize} B as JSON), ` +
    'every field of every one checked; × baseline = to process.send json (objects/s; its p50 / p50):'
  );
}

export const CALLS_HEAD = [
  'primitive',
  'calls/s',
  'spread',
  '× baseline',
  '× UDS',
  'CPU µs/call client',
  'server',
  'calls/run',
  'p50 µs',
  'p99 µs',
  'p50 spread',
  'p50 × baseline',
  'p50 × UDS',
];

/** The calls table: one row per call transport, pipelined calls/s and the sequential round trip, fastest first. */
export function callRows(result) {
  return pairedRows(
    result.calls ?? [],
    result.callLatency ?? [],
    (t) => t?.callsPerSec?.median,
    withBlanks(
      (t) => [
        rate(t.callsPerSec.median),
        spreadPct(t.callsPerSec),
        ratio(t.ratio),
        ratio(t.ofUds),
        t.clientCpuUs ? fixed(t.clientCpuUs.median, 2) : '',
        t.serverCpuUs ? fixed(t.serverCpuUs.median, 2) : '',
        runCount(t),
      ],
      7,
    ),
    withBlanks((l) => [fixed(l.p50Us), fixed(l.p99Us), spreadPct(l.p50RunsUs), ratio(l.ratio), ratio(l.ofUds)], 5),
  );
}

function callsTitle(result) {
  const o = result.options;
  return (
    `Calls: add({ a, b }) → a + b, server in a child process, every answer checked; calls/s with ${o.callWindow ?? 64} in flight, ` +
    'p50/p99: one call at a time; × baseline = to process.send RPC, × UDS = to Unix socket JSON-RPC (calls/s; their p50 / p50):'
  );
}

export const FANOUT_HEAD = [
  'primitive',
  'size',
  'delivered/s',
  'spread',
  '× baseline',
  '× UDS',
  'published/s',
  'pub CPU µs/msg',
  'CPU × 1 sub',
  'skipped',
  'msgs/run',
];

/** The fan-out table: one row per fan-out transport and size, by size, most delivered first. */
export function fanoutRows(result) {
  const rows = [...(result.fanout ?? [])].sort(
    (a, b) => a.size - b.size || (b.msgsPerSec?.median ?? -1) - (a.msgsPerSec?.median ?? -1),
  );
  return rows.map((r) =>
    r.msgsPerSec
      ? [
          r.label,
          sizeLabel(r.size),
          rate(r.msgsPerSec.median),
          spreadPct(r.msgsPerSec),
          ratio(r.ratio),
          ratio(r.ofUds),
          rate(r.publishedPerSec.median),
          fixed(r.publisherCpuUs.median, 2),
          r.cpuOfOne === undefined ? '' : ratio(r.cpuOfOne),
          r.skipped ? String(r.skipped) : '',
          runCount(r),
        ]
      : [r.label, sizeLabel(r.size), statusText(r), '', '', '', '', '', '', '', ''],
  );
}

function fanoutTitle(result) {
  const o = result.options;
  return (
    `Fan-out: one publisher, ${o.fanoutSubscribers ?? 4} subscriber processes, each must get every message, every one checked; ` +
    'delivered/s = all subscribers together; × baseline = to process.send × 4, × UDS = to Unix sockets × 4; ' +
    "pub CPU = the publisher's CPU time per published message; CPU × 1 sub = that with 4 subscribers ÷ with 1:"
  );
}

/** One latency table row; `label` adds the placement for the wake-up rows; `spun` adds the spun % column. */
function latencyRow(r, label = r.label, spun = false) {
  const row =
    r.p50Us !== undefined
      ? [
          label,
          fixed(r.p50Us),
          fixed(r.p90Us),
          fixed(r.p99Us),
          fixed(r.p999Us),
          fixed(r.maxUs),
          spreadPct(r.p50RunsUs),
          ratio(r.ratio),
          String(r.rounds),
        ]
      : [label, statusText(r), '', '', '', '', '', '', ''];
  return spun ? [...row, r.waits ? `${fixed(r.waits.spunPct, 0)}%` : ''] : row;
}

export function latencyRows(result) {
  return sortedLatency(result).map((r) => latencyRow(r, r.label, true));
}

export function wakeupRows(result) {
  return result.wakeup.map((r) => latencyRow(r, `${r.label}, ${PLACEMENTS[r.placement] ?? r.placement}`, true));
}

/**
 * How the ring rows' round trips were served, one line each: spun (neither side parked) or
 * after a park, with the p50 of each kind (bench/waits.mjs).
 */
export function waitsLines(result) {
  const place = (r) => (r.placement === 'unpinned' ? '' : `, ${PLACEMENTS[r.placement] ?? r.placement}`);
  return [...sortedLatency(result), ...result.wakeup]
    .filter((r) => r.waits)
    .map((r) => {
      const w = r.waits;
      const pct = (n) => `${fixed((n / w.rounds) * 100, 0)}%`;
      const p50 = (us) => (us === undefined ? '' : `, p50 ${fixed(us)} µs`);
      return (
        `${r.label}${place(r)}: ${pct(w.spun)} spun${p50(w.spunP50Us)}; ${pct(w.rounds - w.spun)} after a park` +
        `${p50(w.parkedP50Us)} (the pinger parked in ${pct(w.pingerParked)}, the echo in ${pct(w.echoParked)})`
      );
    });
}

const SPUN_NOTE =
  'spun % (ring and TypedQueue rows): round trips in which neither side parked on the futex (the reply caught while spinning, or already there)';

/** The --crowd rows: alone, then among `pending` others, per placement; × alone = p50 ÷ alone's p50 (1.00: no slower). */
export function crowdRows(result) {
  return result.crowd.map((r) =>
    latencyRow(
      r,
      `${PLACEMENTS[r.placement] ?? r.placement}, ${r.pending === 0 ? 'alone' : `${r.pending} others pending`}`,
    ),
  );
}

/** What parking the crowd cost and how it settled, one line per placement. */
export function crowdLines(result) {
  return result.crowd
    .filter((r) => r.crowd)
    .map((r) => {
      const c = r.crowd;
      const threads = Number.isInteger(c.threadsCrowded) ? `, ${c.threadsCrowded - c.threadsAlone} more threads` : '';
      return (
        `${PLACEMENTS[r.placement] ?? r.placement}: parked ${c.pending} waits in ${fixed(c.parkMs)} ms${threads}; ` +
        `p99 ${ratio(r.p99Ratio)} alone's; then ${c.woken} woken and ${c.aborted} aborted, all settled in ${fixed(c.settleMs)} ms`
      );
    });
}

const PLACEMENTS = { cross: 'across vCPUs', same: 'one vCPU', unpinned: 'unpinned' };
const PERCENTILES_HEAD = ['p50 µs', 'p90 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'p50 spread'];
const LATENCY_HEAD = ['primitive', ...PERCENTILES_HEAD, '× baseline', 'round trips', 'spun %'];
const WAKEUP_HEAD = ['primitive, placement', ...PERCENTILES_HEAD, '× futex', 'round trips', 'spun %'];
const CROWD_HEAD = ['placement, pending', ...PERCENTILES_HEAD, '× alone', 'round trips'];
const CROWD_TITLE =
  'one async futex.wait round trip, alone and among other pending async waits (--crowd; × alone = p50 / p50 alone, 1.00 = no slower)';

/** The --idle result in one sentence. */
export function idleLine(idle) {
  if (idle.status !== 'ok') return `idle: ${statusText(idle)}: ${idle.reason}`;
  return (
    `idle: a consumer parked in popIntoSync for ${fixed(idle.parkedSeconds, 2)} s used ` +
    `${fixed(idle.cpuMsPerSecond, 2)} ms CPU/s (utime+stime, ${fixed(1000 / idle.clockTicksPerSecond, 0)} ms ticks), ` +
    `${fixed(idle.schedstatMsPerSecond, 3)} ms/s (schedstat, all threads); parks during the idle second: ` +
    `${idle.consumerParksDuringIdle}; then ${idle.messages} messages woke it and were verified ` +
    `(parks ${idle.consumerParks}, wakes ${idle.consumerWakes})`
  );
}

/** The --nats rows: one line per row, the bridge's cost beside its plain twin. */
export function natsLines(nats) {
  if (nats.status === 'skipped' || !nats.throughput) return [`NATS rows: ${statusText(nats)}: ${nats.reason}`];
  const lines = [
    "NATS rows (--nats; cost = the plain nats client's rate ÷ this rate, or this p50 ÷ its p50; 1.00 = no cost):",
  ];
  for (const r of nats.throughput) {
    lines.push(
      r.msgsPerSec
        ? `  ${r.label}: ${rate(r.msgsPerSec.median)} msgs/s of ${r.size} B ${spreadPct(r.msgsPerSec)}${r.cost ? `, cost ${ratio(r.cost)}` : ''}`
        : `  ${r.label}: ${statusText(r)}: ${r.reason}`,
    );
  }
  for (const r of nats.latency) {
    lines.push(
      r.p50Us !== undefined
        ? `  ${r.label}: round trip p50 ${fixed(r.p50Us)} µs, p99 ${fixed(r.p99Us)} µs${r.cost ? `, cost ${ratio(r.cost)}` : ''}`
        : `  ${r.label}: ${statusText(r)}: ${r.reason}`,
    );
  }
  return lines;
}

/** How the runs were sized: steady (warm-up until stable, runs by time) or --quick / --count. */
function runsText(o) {
  const count = o.count ? `${o.count} messages` : 'the common count';
  if (o.quick) return `--quick: ${o.repeat} runs of ${count} after one short warm-up`;
  const s = o.steady;
  const warm = s
    ? `warm-up until two ${s.windowSeconds} s windows agree within ${s.tolerance * 100} % (at most ${s.maxWarmSeconds} s)`
    : 'a warm-up';
  const runs = o.count
    ? `${o.repeat} runs of ${count}`
    : `${o.repeat} runs of ${o.duration} s each (never fewer than the common count)`;
  return `${warm}, then ${runs}`;
}

function placementText(o) {
  if (o.pin === 'same') return 'every row pinned to one vCPU (--pin same)';
  if (o.pin === 'split') return 'every row pinned across two vCPUs (--pin split)';
  return 'unpinned';
}

export function header(result) {
  const o = result.options;
  return [
    machineLine(result.machine),
    `shmkit bench: ${runsText(o)}; median shown, spread = ±half the range of the runs; ${placementText(o)}; ` +
      (result.throughput.length + result.latency.length > 0
        ? `sizes ${o.sizes.map(sizeLabel).join(', ')}; latency at ${sizeLabel(o.latencySize)}; baseline ${baselineLabel(result)}; MB = 10^6 B`
        : `no byte rows (--payload ${(o.payloads ?? ['object']).join(',')})`),
    `ring data area (ringCapacity): ${o.ringCapacity ? `${sizeLabel(o.ringCapacity)} for every ring and queue` : 'by size, at least 1 MiB and 4 messages; 64 KiB for round trips'}`,
  ];
}

/** The note of the rows marked * (fewer messages than the common count), or undefined. */
function reducedNote(result) {
  if (!result.throughput.some((r) => r.reduced)) return undefined;
  const o = result.options;
  const limit =
    o.quick || !o.steady ? `1.5 × --duration ${o.duration} s` : `${Math.max(o.steady.maxRunSeconds, o.duration)} s`;
  return `* fewer messages than the common count: at that count one run would take longer than ${limit}`;
}

function skippedLines(result) {
  const lines = [];
  const cases = [
    ...result.throughput.map((r) => [r, sizeLabel(r.size)]),
    ...result.latency.map((r) => [r, 'latency']),
    ...(result.objects ?? []).map((r) => [r, 'objects']),
    ...(result.objectLatency ?? []).map((r) => [r, 'objects latency']),
    ...(result.calls ?? []).map((r) => [r, 'pipelined calls']),
    ...(result.callLatency ?? []).map((r) => [r, 'sequential calls']),
    ...(result.fanout ?? []).map((r) => [r, `fan-out ${sizeLabel(r.size)}`]),
    ...result.wakeup.map((r) => [r, `wake-up ${PLACEMENTS[r.placement] ?? r.placement}`]),
    ...result.crowd.map((r) => [r, `${PLACEMENTS[r.placement] ?? r.placement}, ${r.pending} pending`]),
  ];
  for (const [r, what] of cases) {
    if (r.status !== 'ok') lines.push(`${statusText(r)}: ${r.label} ${what}: ${r.reason}`);
  }
  return lines;
}

/** The terminal report. */
export function renderText(result) {
  const out = [...header(result), ''];
  const head = throughputHead(result);
  const t = new Table({ head, style: { head: [], border: [], compact: true } });
  const sorted = sortedThroughput(result);
  for (const [i, row] of throughputRows(result).entries()) {
    if (i > 0 && sorted[i].size !== sorted[i - 1].size) t.push(head.map(() => ''));
    t.push(row);
  }
  if (result.throughput.length > 0) out.push('Throughput (one way, per process pair):', t.toString());
  const reduced = reducedNote(result);
  if (reduced) out.push(reduced);
  if (result.latency.length > 0) {
    const l = new Table({ head: LATENCY_HEAD, style: { head: [], border: [], compact: true } });
    for (const row of latencyRows(result)) l.push(row);
    out.push(
      '',
      `Round-trip latency at ${sizeLabel(result.options.latencySize)} (HDR histogram of every round trip; × baseline = baseline p50 / p50):`,
      l.toString(),
    );
  }
  const waits = waitsLines(result);
  if (waits.length > 0) out.push(`${SPUN_NOTE}:`, ...waits.map((line) => `  ${line}`));
  if (result.objects?.length > 0 || result.objectLatency?.length > 0) {
    const o = new Table({ head: OBJECTS_HEAD, style: { head: [], border: [], compact: true } });
    for (const row of objectRows(result)) o.push(row);
    if (out.at(-1) !== '') out.push('');
    out.push(objectsTitle(result), o.toString());
  }
  if (result.calls?.length > 0 || result.callLatency?.length > 0) {
    const c = new Table({ head: CALLS_HEAD, style: { head: [], border: [], compact: true } });
    for (const row of callRows(result)) c.push(row);
    if (out.at(-1) !== '') out.push('');
    out.push(callsTitle(result), c.toString());
  }
  if (result.serviceLiveness) out.push('', livenessText(result.serviceLiveness));
  if (result.fanout?.length > 0) {
    const f = new Table({ head: FANOUT_HEAD, style: { head: [], border: [], compact: true } });
    for (const row of fanoutRows(result)) f.push(row);
    if (out.at(-1) !== '') out.push('');
    out.push(fanoutTitle(result), f.toString());
  }
  if (result.wakeup.length > 0) {
    const w = new Table({ head: WAKEUP_HEAD, style: { head: [], border: [], compact: true } });
    for (const row of wakeupRows(result)) w.push(row);
    out.push(
      '',
      `Wake-up latency, pinned (--wakeup; × futex = bare futex p50 / p50 at the same placement):`,
      w.toString(),
    );
  }
  if (result.crowd.length > 0) {
    const c = new Table({ head: CROWD_HEAD, style: { head: [], border: [], compact: true } });
    for (const row of crowdRows(result)) c.push(row);
    out.push('', `Wake latency of ${CROWD_TITLE}:`, c.toString(), ...crowdLines(result));
  }
  if (result.idle) out.push('', idleLine(result.idle));
  if (result.nats) out.push('', ...natsLines(result.nats));
  const notes = skippedLines(result);
  if (notes.length > 0) out.push('', ...notes);
  out.push(
    '',
    `${result.ok ? 'all transports verified' : 'SOME TRANSPORTS FAILED (above)'}; total ${fixed(result.seconds)} s`,
  );
  return out.join('\n');
}

function csvCell(value) {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function renderCsv(result) {
  const head = [
    'test',
    'primitive',
    'label',
    'size',
    'status',
    'count',
    'msgs_per_s',
    'msgs_per_s_min',
    'msgs_per_s_max',
    'MB_per_s',
    'ratio',
    'p50_us',
    'p90_us',
    'p99_us',
    'p999_us',
    'max_us',
    'rounds',
    'reason',
    'placement',
    'of_memcpy',
    'pending',
    'of_floor',
    'stable',
    'warmup_s',
    'messages_moved',
    'bytes_moved',
    'spun_pct',
  ];
  const lines = [head.join(',')];
  const throughputLike = [
    ...result.throughput.map((r) => ['throughput', r]),
    ...(result.objects ?? []).map((r) => ['objects', r]),
    ...(result.calls ?? []).map((r) => ['calls', { ...r, msgsPerSec: r.callsPerSec }]),
    ...(result.fanout ?? []).map((r) => ['fanout', r]),
  ];
  for (const [test, r] of throughputLike) {
    lines.push(
      [
        test,
        r.primitive,
        r.label,
        r.size,
        r.status,
        r.count,
        r.msgsPerSec?.median,
        r.msgsPerSec?.min,
        r.msgsPerSec?.max,
        r.MBps?.median,
        r.ratio,
        '',
        '',
        '',
        '',
        '',
        '',
        r.reason,
        r.placement,
        r.ofMemcpy,
        '',
        r.ofFloor,
        r.stable,
        r.warmup?.seconds,
        r.moved?.messages,
        r.moved?.bytes,
        '',
      ]
        .map(csvCell)
        .join(','),
    );
  }
  const latencyLike = [
    ...result.latency.map((r) => ['latency', r]),
    ...(result.objectLatency ?? []).map((r) => ['object-latency', r]),
    ...(result.callLatency ?? []).map((r) => ['call-latency', r]),
    ...result.wakeup.map((r) => ['wakeup', r]),
    ...result.crowd.map((r) => ['crowd', r]),
  ];
  for (const [test, r] of latencyLike) {
    lines.push(
      [
        test,
        r.primitive,
        r.label,
        r.size,
        r.status,
        '',
        '',
        '',
        '',
        '',
        r.ratio,
        r.p50Us,
        r.p90Us,
        r.p99Us,
        r.p999Us,
        r.maxUs,
        r.rounds,
        r.reason,
        r.placement,
        '',
        r.pending,
        '',
        '',
        '',
        '',
        '',
        r.waits?.spunPct,
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

function mdTable(head, rows) {
  const esc = (c) => String(c).replaceAll('|', '\\|');
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown(result) {
  const out = header(result).map((l) => `${l}  `);
  // --payload object / call alone: no byte tables.
  if (result.throughput.length > 0)
    out.push('', '### Throughput', '', mdTable(throughputHead(result), throughputRows(result)));
  const reduced = reducedNote(result);
  if (reduced) out.push('', reduced);
  if (result.latency.length > 0) {
    out.push(
      '',
      `### Round-trip latency at ${sizeLabel(result.options.latencySize)}`,
      '',
      mdTable(LATENCY_HEAD, latencyRows(result)),
    );
  }
  const waits = waitsLines(result);
  if (waits.length > 0) out.push('', `${SPUN_NOTE}:`, '', ...waits.map((line) => `- ${line}`));
  if (result.objects?.length > 0 || result.objectLatency?.length > 0) {
    out.push('', '### Objects', '', objectsTitle(result), '', mdTable(OBJECTS_HEAD, objectRows(result)));
  }
  if (result.calls?.length > 0 || result.callLatency?.length > 0) {
    out.push('', '### Calls', '', callsTitle(result), '', mdTable(CALLS_HEAD, callRows(result)));
  }
  if (result.serviceLiveness?.disconnect) {
    const l = result.serviceLiveness;
    out.push(
      '',
      '### Service liveness',
      '',
      livenessTitle(l),
      '',
      mdTable(LIVENESS_HEAD, livenessRows(l)),
      '',
      livenessIdleLine(l),
    );
  }
  if (result.fanout?.length > 0) {
    out.push('', '### Fan-out', '', fanoutTitle(result), '', mdTable(FANOUT_HEAD, fanoutRows(result)));
  }
  if (result.wakeup.length > 0) {
    out.push('', '### Wake-up latency, pinned (× futex)', '', mdTable(WAKEUP_HEAD, wakeupRows(result)));
  }
  if (result.crowd.length > 0) {
    out.push(
      '',
      '### Wake latency among pending waits (× alone)',
      '',
      `${CROWD_TITLE[0].toUpperCase()}${CROWD_TITLE.slice(1)}.`,
    );
    out.push('', mdTable(CROWD_HEAD, crowdRows(result)), '', ...crowdLines(result).map((l) => `- ${l}`));
  }
  if (result.idle) out.push('', idleLine(result.idle));
  if (result.nats) out.push('', ...natsLines(result.nats).map((l, k) => (k === 0 ? l : `- ${l.trim()}`)));
  const notes = skippedLines(result);
  if (notes.length > 0) out.push('', ...notes.map((n) => `- ${n}`));
  return `${out.join('\n')}\n`;
}

/**
 * The echarts module, or undefined when it is not installed (it is an optional peer
 * dependency: `npm install echarts`). Any other failure to load it is thrown.
 */
export async function loadEcharts() {
  try {
    return await import('echarts');
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND' && /['"]echarts['"]/.test(error.message)) return undefined;
    throw error;
  }
}

async function requireEcharts() {
  const echarts = await loadEcharts();
  if (!echarts) {
    const message = "the chart needs the package 'echarts', which is not installed (npm install echarts)";
    throw Object.assign(new Error(message), { code: 'ERR_SHMKIT_NO_ECHARTS' });
  }
  return echarts;
}

/**
 * The chart (SVG text): one row per primitive, a panel of throughput per size (MB/s) and one of
 * round-trip latency (µs), dots (medians) with whiskers (the runs' range) on log axes, the
 * baseline marked (bench/chart.mjs). Height grows with the rows; `width` in pixels.
 * @throws ERR_SHMKIT_NO_ECHARTS when the optional peer dependency echarts is not installed.
 */
export async function renderSvg(result, { width } = {}) {
  const echarts = await requireEcharts();
  const chart = chartOption(result, { width });
  const instance = echarts.init(null, null, { renderer: 'svg', ssr: true, width: chart.width, height: chart.height });
  instance.setOption(chart.option);
  const svg = instance.renderToSVGString();
  instance.dispose();
  return svg;
}

export async function renderHtml(result) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shmkit bench</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}pre{font-size:12px}</style></head>
<body><h1>shmkit bench</h1>
<p>${header(result).join('<br>')}</p>
${await renderSvg(result)}
</body></html>
`;
}

/**
 * Writes whichever files the options ask for; resolves with the list of paths written.
 * `json: '-'` is not a file: the caller prints that JSON to stdout.
 */
export async function writeOutputs(result, { json, csv, md, chart }) {
  const written = [];
  if (json && json !== '-') {
    writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
    written.push(json);
  }
  if (csv) {
    writeFileSync(csv, renderCsv(result));
    written.push(csv);
  }
  if (md) {
    writeFileSync(md, renderMarkdown(result));
    written.push(md);
  }
  if (chart) {
    writeFileSync(chart, /\.html?$/i.test(chart) ? await renderHtml(result) : await renderSvg(result));
    written.push(chart);
  }
  return written;
}
