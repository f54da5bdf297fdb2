// The echarts option of `shmkit bench --chart` (bench/report.mjs renderSvg
// renders it; echarts itself is loaded there, lazily). One row per primitive,
// in the catalog's order and with its own colour in every panel: one panel of
// throughput per message size (MB/s) and one of round-trip latency (µs), then
// the object rows' objects/s and round trip (µs), each on a log axis, where a dot is the median and a whisker the range of the
// measured runs, so a reader sees how far to trust a dot. The baseline's row
// is marked and its median drawn as a dashed line across its panel (the object
// panels: the object rows' baseline).
import { sizeLabel } from './format.mjs';

const ROW_PX = 22;
const TOP_PX = 112;
const BOTTOM_PX = 56;
/** The row labels' column: about 6.5 pixels a character of the longest label (11 px sans-serif), at least 200. */
function labelsWidth(labels) {
  return Math.max(200, Math.ceil(Math.max(0, ...labels.map((l) => l.length)) * 6.5 + 16));
}
const GAP_PX = 40;
const PANEL_PX = 210;
/** The legend's whisker: a bar with end caps (an SVG path, filled). */
const WHISKER_ICON = 'path://M0,4h20v2h-20z M0,0h2v10h-2z M18,0h2v10h-2z';

/** A distinct colour for row i: hues a golden angle apart, two lightnesses. */
export function rowColour(i) {
  const hue = Math.round((i * 137.508) % 360);
  return `hsl(${hue}, 70%, ${i % 2 ? 32 : 42}%)`;
}

/**
 * The rows that ran, in the catalog's order (result.primitives keeps it): the byte rows, then the
 * object rows (labelled 'objects: ...'). Each: { id, label, objects }.
 */
function chartRows(result) {
  const bytes = new Set([...result.throughput, ...result.latency].map((r) => r.primitive));
  const objects = new Set([...(result.objects ?? []), ...(result.objectLatency ?? [])].map((r) => r.primitive));
  return [
    ...result.primitives.filter((p) => bytes.has(p.id)).map((p) => ({ id: p.id, label: p.label, objects: false })),
    ...result.primitives
      .filter((p) => objects.has(p.id))
      .map((p) => ({ id: p.id, label: `objects: ${p.label}`, objects: true })),
  ];
}

/** An axis number, short: 1, 10, 100, 1k, 10k, 100k, 1M, ... (the panels sit close together). */
export function compactNumber(value) {
  if (value >= 1e9) return `${value / 1e9}G`;
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(value);
}

/** Whiskers: a line from x0 to x1 at the row, with short caps (an echarts custom series). */
function whiskerItem(_params, api) {
  const y = api.value(2);
  const [x0, yPx] = api.coord([api.value(0), y]);
  const [x1] = api.coord([api.value(1), y]);
  const cap = 4;
  const style = { stroke: api.visual('color'), lineWidth: 1.5 };
  return {
    type: 'group',
    children: [
      { type: 'line', shape: { x1: x0, y1: yPx, x2: x1, y2: yPx }, style },
      { type: 'line', shape: { x1: x0, y1: yPx - cap, x2: x0, y2: yPx + cap }, style },
      { type: 'line', shape: { x1: x1, y1: yPx - cap, x2: x1, y2: yPx + cap }, style },
    ],
  };
}

/** A throughput panel's points from `table` (rows of one size): { row, median, min, max } per row that has a number. */
function throughputPoints(rows, table, key) {
  return rows.flatMap((p, row) => {
    const r = table.find((t) => t.primitive === p.id && t[key]);
    return r ? [{ row, median: r[key].median, min: r[key].min, max: r[key].max }] : [];
  });
}

/** A latency panel's points: the p50, the range of the runs' p50s, the p99. */
function latencyPoints(rows, table) {
  return rows.flatMap((p, row) => {
    const r = table.find((t) => t.primitive === p.id && t.p50Us !== undefined);
    if (!r) return [];
    const runs = r.p50RunsUs ?? { min: r.p50Us, max: r.p50Us };
    return [{ row, median: r.p50Us, min: Math.min(runs.min, r.p50Us), max: Math.max(runs.max, r.p50Us), p99: r.p99Us }];
  });
}

/** The series of one panel (grid index g): whiskers, medians (the baseline's median as a dashed line), p99s. */
function panelSeries(g, points, baselineRow) {
  const colour = (row) => rowColour(row);
  const base = points.find((pt) => pt.row === baselineRow);
  const series = [
    {
      name: 'range of the runs',
      type: 'custom',
      xAxisIndex: g,
      yAxisIndex: g,
      renderItem: whiskerItem,
      itemStyle: { color: '#666' },
      encode: { x: [0, 1], y: 2 },
      data: points.map((pt) => ({ value: [pt.min, pt.max, pt.row], itemStyle: { color: colour(pt.row) } })),
      z: 2,
    },
    {
      name: 'median',
      type: 'scatter',
      xAxisIndex: g,
      yAxisIndex: g,
      symbolSize: 8,
      itemStyle: { color: '#666' },
      data: points.map((pt) => ({
        value: [pt.median, pt.row],
        itemStyle: { color: colour(pt.row), borderColor: '#fff', borderWidth: 0.5 },
        ...(pt.row === baselineRow ? { symbol: 'diamond', symbolSize: 12 } : {}),
      })),
      markLine: base
        ? {
            silent: true,
            symbol: 'none',
            label: { show: false },
            lineStyle: { color: '#333', type: 'dashed', width: 1 },
            data: [{ xAxis: base.median }],
          }
        : undefined,
      z: 3,
    },
  ];
  if (points.some((pt) => pt.p99 !== undefined)) {
    series.push({
      name: 'p99 (latency)',
      type: 'scatter',
      xAxisIndex: g,
      yAxisIndex: g,
      symbol: 'emptyCircle',
      symbolSize: 7,
      itemStyle: { color: '#666' },
      data: points.map((pt) => ({ value: [pt.p99, pt.row], itemStyle: { color: colour(pt.row) } })),
      z: 2,
    });
  }
  return series;
}

/** Bounds of a log axis that show every point with a little room: powers of ten. */
function logBounds(points, keys) {
  const values = points.flatMap((pt) => keys.map((k) => pt[k])).filter((v) => v > 0);
  if (values.length === 0) return {};
  return {
    min: 10 ** Math.floor(Math.log10(Math.min(...values))),
    max: 10 ** Math.ceil(Math.log10(Math.max(...values))),
  };
}

/**
 * The panels, left to right: MB/s per size and the round trip of the byte rows, then objects/s
 * and the round trip of the object rows (each only when it has rows). Each: { title, points,
 * keys (what the axis must show besides the median), baselineRow }.
 */
function makePanels(result, rows, baselineRow, objectBaselineRow) {
  const byteRows = rows.map((p) => (p.objects ? {} : p));
  const objectRows = rows.map((p) => (p.objects ? p : {}));
  const panels = result.options.sizes.map((size) => ({
    title: `${sizeLabel(size)}: MB/s`,
    points: throughputPoints(
      byteRows,
      result.throughput.filter((r) => r.size === size),
      'MBps',
    ),
    keys: ['min', 'max'],
    baselineRow,
  }));
  panels.push({
    title: `round trip ${sizeLabel(result.options.latencySize)}: µs`,
    points: latencyPoints(byteRows, result.latency),
    keys: ['min', 'max', 'p99'],
    baselineRow,
  });
  panels.push({
    title: 'objects/s',
    points: throughputPoints(objectRows, result.objects ?? [], 'msgsPerSec'),
    keys: ['min', 'max'],
    baselineRow: objectBaselineRow,
  });
  panels.push({
    title: 'object round trip: µs',
    points: latencyPoints(objectRows, result.objectLatency ?? []),
    keys: ['min', 'max', 'p99'],
    baselineRow: objectBaselineRow,
  });
  return panels.filter((panel) => panel.points.length > 0);
}

/**
 * The option for echarts: a title line (date, shmkit version, machine), a legend of the marks,
 * and the panels (makePanels) side by side, sharing the row labels. Width: `options.width` or 210 pixels a panel.
 * Returns { option, width, height } (pixels).
 */
export function chartOption(result, options = {}) {
  const rows = chartRows(result);
  const labels = rows.map((p) => p.label);
  const baselineRow = rows.findIndex((p) => p.id === result.options.baseline && !p.objects);
  const objectBaselineRow = rows.findIndex((p) => p.id === result.options.objectBaseline && p.objects);
  const panels = makePanels(result, rows, baselineRow, objectBaselineRow);
  const labelsPx = labelsWidth(
    labels.map((l, row) => (row === baselineRow || row === objectBaselineRow ? `${l} (baseline)` : l)),
  );
  const hasLatency = panels.some((panel) => panel.keys.includes('p99'));
  // At least as wide as the subtitle, whatever few panels there are.
  const width =
    options.width ?? Math.max(1200, labelsPx + 20 + panels.length * PANEL_PX + (panels.length - 1) * GAP_PX);
  const height = TOP_PX + Math.max(1, rows.length) * ROW_PX + BOTTOM_PX;
  const panelWidth = (width - labelsPx - 20 - GAP_PX * (panels.length - 1)) / Math.max(1, panels.length);
  const left = (i) => labelsPx + i * (panelWidth + GAP_PX);
  const m = result.machine;
  const date = String(result.date).slice(0, 16).replace('T', ' ');
  const title = `shmkit ${m.shmkit} bench, ${date} UTC: ${m.cpuModel}, ${m.cores} cores, ${m.kernel}, Node ${m.node}`;
  const subtitle =
    `dot: median of ${result.options.repeat} runs; whisker: their range (round trips: of the runs' p50s); ◆, bold label, ` +
    `dashed line: the baseline; log axes: MB/s, objects/s higher is better, µs lower; load average ${m.loadAverage.join(' / ')}`;
  const option = {
    animation: false,
    backgroundColor: '#fff',
    textStyle: { fontFamily: 'sans-serif' },
    title: [
      { text: title, left: 12, top: 8, textStyle: { fontSize: 14 } },
      { text: subtitle, left: 12, top: 30, textStyle: { fontSize: 11, fontWeight: 'normal', color: '#444' } },
      ...panels.map((panel, i) => ({
        text: panel.title,
        left: left(i),
        top: TOP_PX - 34,
        textStyle: { fontSize: 12 },
      })),
    ],
    legend: {
      top: 50,
      left: 12,
      itemGap: 24,
      textStyle: { fontSize: 11 },
      data: [
        { name: 'median', icon: 'circle' },
        { name: 'range of the runs', icon: WHISKER_ICON },
        ...(hasLatency ? [{ name: 'p99 (latency)', icon: 'emptyCircle' }] : []),
      ],
    },
    grid: panels.map((_, i) => ({ left: left(i), width: panelWidth, top: TOP_PX, bottom: BOTTOM_PX })),
    xAxis: panels.map((panel, i) => ({
      gridIndex: i,
      type: 'log',
      ...logBounds(panel.points, ['median', ...panel.keys]),
      axisLabel: { fontSize: 10, hideOverlap: true, formatter: compactNumber },
      splitLine: { lineStyle: { color: '#e4e4e4' } },
    })),
    yAxis: panels.map((_, i) => ({
      gridIndex: i,
      type: 'category',
      data: labels,
      inverse: true,
      axisTick: { show: false },
      splitLine: { show: true, lineStyle: { color: '#f0f0f0' } },
      axisLabel:
        i === 0
          ? {
              fontSize: 11,
              color: (_, row) => rowColour(row),
              formatter: (label, row) =>
                row === baselineRow || row === objectBaselineRow ? `{base|${label} (baseline)}` : label,
              rich: { base: { fontWeight: 'bold', fontSize: 11 } },
            }
          : { show: false },
    })),
    series: panels.flatMap((panel, i) => panelSeries(i, panel.points, panel.baselineRow)),
  };
  return { option, width, height };
}
