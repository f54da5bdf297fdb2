/**
 * `shmkit bench`: every IPC primitive between two processes, side by side
 * with Node's own IPC, throughput by message size and round-trip latency
 * (µs), the memcpy ceilings, and on request pinned wake-up latency against a
 * bare futex (--wakeup), the wake latency of one async futex wait among many
 * pending (--crowd) and the idle cost of a parked consumer (--idle)
 * (docs/benchmarks.md). By default each case warms up until its rate is
 * stable and its runs are sized by time (--duration); --quick is the short
 * fixed-count run; --pin places every row; --compare checks a run against an
 * earlier one's JSON. The harness is plain ESM under bench/ in the package
 * (bench/harness.mjs, its child processes and report.mjs): its child
 * processes must be real files that `import 'shmkit'` like a user's program
 * would, so it is shipped as-is rather than compiled. This module parses the
 * options, shows progress and prints the report.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { codedError } from '../../core/errors.js';

interface BenchRow {
  primitive: string;
  label: string;
  size: number;
  status: string;
  reason?: string;
  placement?: string;
  /** --crowd: other async waits pending during the round trips. */
  pending?: number;
  /** --crowd: p50 ÷ the p50 alone. */
  ratio?: number;
  msgsPerSec?: { median: number };
  /** The call rows' pipelined calls (--payload call). */
  callsPerSec?: { median: number };
  /** Throughput: false when the warm-up found no stable rate within its time limit. */
  stable?: boolean;
  /** Round-trip latency, µs. */
  p50Us?: number;
  cpuMsPerSecond?: number;
}

interface BenchResult {
  ok: boolean;
  throughput: BenchRow[];
  latency: BenchRow[];
  /** The object rows (--payload object): throughput, and round trips. */
  objects: BenchRow[];
  objectLatency: BenchRow[];
  /** The call rows (--payload call): pipelined calls, and sequential round trips. */
  calls: BenchRow[];
  callLatency: BenchRow[];
  /** The fan-out rows (--payload fanout): one publisher, 4 subscribers, per size. */
  fanout: BenchRow[];
  wakeup: BenchRow[];
  crowd: BenchRow[];
  idle: BenchRow | null;
  /** --nats: shmkit/nats's bridges against the plain nats client. */
  nats: BenchRow | null;
}

interface Harness {
  DEFAULTS: {
    sizes: number[];
    duration: number;
    repeat: number;
    rounds: number;
    baseline: string;
    /** What a run without --payload carries. */
    payloads: Payload[];
  };
  SCHEMA: string;
  /** Pending waits of --crowd given without a number. */
  DEFAULT_CROWD: number;
  PRIMITIVES: {
    id: string;
    label: string;
    group: string;
    api: string;
    latencyOnly?: boolean;
    throughputOnly?: boolean;
    optional?: boolean;
    native?: boolean;
    /** 'object' for the object rows, 'call' for the call rows (--payload); absent for the byte rows. */
    payload?: string;
  }[];
  selectPrimitives(tokens?: string[], payloads?: Payload[]): { id: string }[];
  /** The ids with the baselines their ratios need (the byte rows' and the object rows'). */
  withBaselines(ids: string[], baseline: string): string[];
  sizeLabel(size: number): string;
  prepareNativeTools(ids: string[]): Promise<NativeTools>;
  runBench(
    options: Record<string, unknown>,
    progress: {
      start?(total: number): void;
      step?(text: string): void;
      caseDone?(row: BenchRow, type: string): void;
      stop?(): void;
    },
  ): Promise<BenchResult>;
}

/** The C tools of the native rows: their paths, or why they cannot be built (bench/native-tools.mjs). */
interface NativeTools {
  paths?: Record<string, string>;
  error?: Error & { code: string; reason: string };
}

/** bench/compare.mjs: --compare and --from. */
interface Compare {
  loadResult(path: string): BenchResult;
  compareResults(before: BenchResult, after: BenchResult): unknown[];
  renderComparison(comparison: unknown[], before: BenchResult, after: BenchResult): string;
}

/** bench/placement.mjs: whether --pin can be honoured here. */
interface Placement {
  pinPlacement(mode: string): { error?: string };
}

interface Report {
  renderText(result: BenchResult): string;
  writeOutputs(result: BenchResult, files: Record<string, string | undefined>): Promise<string[]>;
  loadEcharts(): Promise<unknown>;
}

/** bench/ at the package root: three levels up from dist/tooling/cli/ (in the repo and in an installed package). */
const BENCH_DIR = path.join(__dirname, '..', '..', '..', 'bench');

// Keep the real dynamic import() (this file compiles to CommonJS; the harness is ESM).
async function load<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(path.join(BENCH_DIR, file)).href)) as T;
}

/** '64', '4k', '64K', '1m', '1MiB' → bytes. */
function bytesOf(text: string): number {
  const match = /^(\d+)\s*(k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`'${text}' is not a size (e.g. 64, 4k, 64k, 1m).`);
  const unit = (match[2] ?? '').toLowerCase();
  return Number(match[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
}

/** A message size: '64', '4k', '64K', '1m', '1MiB' → bytes, 24 B to 64 MiB. */
export function parseSize(text: string): number {
  const value = bytesOf(text);
  if (value < 24 || value > 64 * 1024 * 1024) {
    throw new InvalidArgumentError(`size ${text} is out of range (24 B to 64 MiB).`);
  }
  return value;
}

/** --ring-capacity: bytes of a ring's data area, a power of two from 4 KiB to 1 GiB. */
export function parseRingCapacity(text: string): number {
  const value = bytesOf(text);
  if (value < 4096 || value > 2 ** 30 || (value & (value - 1)) !== 0) {
    throw new InvalidArgumentError(`--ring-capacity ${text} must be a power of two from 4k to 1024m (bytes).`);
  }
  return value;
}

function parseSizes(value: string): number[] {
  return [...new Set(value.split(',').map(parseSize))].sort((a, b) => a - b);
}

function positive(name: string, integer: boolean) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0 || (integer && !Number.isInteger(number))) {
      throw new InvalidArgumentError(`${name} must be a positive ${integer ? 'integer' : 'number'}.`);
    }
    return number;
  };
}

/** --crowd [n]: other async waits to park, 1 to 1,000,000 (default 10000 when no number follows). */
export function parseCrowd(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new InvalidArgumentError(`--crowd ${text} must be an integer from 1 to 1000000 (pending waits).`);
  }
  return value;
}

/**
 * What the rows carry: 'bytes' (the byte rows), 'object' (the object rows, bench/objects.mjs),
 * 'call' (the call rows, bench/calls.mjs), 'fanout' (one publisher to 4 subscribers, bench/fanout.mjs).
 */
type Payload = 'bytes' | 'object' | 'call' | 'fanout';

const USAGE = 'say bytes, object, call, fanout or a list of them (bytes,object)';

/** --payload bytes|object|call|fanout, or a list of them ('objects', 'calls' and 'all' accepted). */
export function parsePayload(text: string): Payload[] {
  const out = new Set<Payload>();
  for (const word of parseList(text)) {
    if (word === 'bytes') out.add('bytes');
    else if (word === 'object' || word === 'objects') out.add('object');
    else if (word === 'call' || word === 'calls') out.add('call');
    else if (word === 'fanout') out.add('fanout');
    else if (word === 'all') {
      out.add('bytes');
      out.add('object');
      out.add('call');
      out.add('fanout');
    } else throw new InvalidArgumentError(`--payload ${text}: ${USAGE}.`);
  }
  if (out.size === 0) throw new InvalidArgumentError(`--payload ${text}: ${USAGE}.`);
  return (['bytes', 'object', 'call', 'fanout'] as const).filter((p) => out.has(p));
}

function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

interface BenchOptions {
  only?: string[];
  payload?: Payload[];
  sizes?: number[];
  duration?: number;
  repeat: number;
  count?: number;
  quick?: boolean;
  pin?: 'same' | 'split';
  compare?: string;
  from?: string;
  rounds: number;
  baseline: string;
  ringCapacity?: number;
  wakeup?: boolean;
  crowd?: number | true;
  idle?: boolean;
  nats?: boolean;
  json?: string;
  csv?: string;
  md?: string;
  chart?: string;
  list?: boolean;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('Benchmark every IPC primitive between two processes, beside Node’s own IPC (docs/benchmarks.md).')
    .option(
      '--only <ids>',
      'only these primitives, comma-separated: ids, prefixes (ring, tq, ipc, c, memcpy) or groups (shmkit, node, native, memcpy); optional rows only by id; --list shows them',
      parseList,
    )
    .option(
      '--payload <kinds>',
      'bytes (the byte rows), object (the object rows: a ~100-byte JS object per message), call (the call rows: a Service against JSON-RPC over a Unix socket and process.send RPC), fanout (one publisher to 4 subscribers: a Topic against 4 Unix sockets and 4 process.send children), or a list (default: all four, each kind in a table of its own)',
      parsePayload,
    )
    .option('--sizes <sizes>', 'message sizes for throughput (default 64,4k,64k,1m)', parseSizes)
    .addOption(
      new Option(
        '--duration <seconds>',
        'seconds of each measured run, after a warm-up until the rate is stable (never fewer messages than the common count); with --quick: the longest one run may take (default 0.5)',
      ).argParser(positive('--duration', false)),
    )
    .option('--quick', 'the short run for smoke tests: one short warm-up, then the common count (or --count) per run')
    .addOption(
      new Option(
        '--pin <placement>',
        'run every row pinned with taskset: same = both ends on one vCPU, split = one on each (the parent too when it is an end)',
      ).choices(['same', 'split']),
    )
    .option(
      '--compare <file>',
      "print each row's change against an earlier run's --json file (within noise when the runs' ranges overlap)",
    )
    .option(
      '--from <file>',
      'measure nothing: take the result from a --json file (to print, --compare or re-render it)',
    )
    .addOption(
      new Option('--repeat <n>', 'measured runs per case, after a warm-up run')
        .default(3)
        .argParser(positive('--repeat', true)),
    )
    .option(
      '--count <n>',
      'messages per run for every primitive and size, instead of sizing runs by --duration (the common count: 256 MiB worth, 64 to 100000)',
      positive('--count', true),
    )
    .addOption(
      new Option('--rounds <n>', 'round trips per latency run').default(2000).argParser(positive('--rounds', true)),
    )
    .option(
      '--baseline <id>',
      'the byte row every ratio of the byte rows is computed against (the object rows: always obj-ipc-json)',
      'ipc-json',
    )
    .option(
      '--ring-capacity <bytes>',
      'data area of every ring and TypedQueue, bytes (e.g. 64k, 8m; default by size: at least 1 MiB and 4 messages)',
      parseRingCapacity,
    )
    .option('--wakeup', 'also: round trips of ring-park, ring and futex pinned across two vCPUs and on one (taskset)')
    .option(
      '--crowd [n]',
      'also: one async futex.wait round trip alone and while n other async waits are pending (default 10000), pinned like --wakeup',
      parseCrowd,
    )
    .option('--idle', 'also: the CPU a consumer parked on an empty ring uses in one second (from /proc)')
    .option(
      '--nats',
      'also: shmkit/nats (bridged Topic, a Service over NATS) against the plain nats client, on a nats-server it starts (needs nats-server and the nats package)',
    )
    .option('--json <file>', "write every number (documented shape) as JSON; '-': to stdout, the report to stderr")
    .option('--csv <file>', 'write one CSV line per case')
    .option('--md <file>', 'write the tables as Markdown')
    .option('--chart <file>', 'write a chart: .svg, or .html embedding the SVG (needs the package echarts)')
    .option('--list', 'list the primitive ids and exit')
    .option('--no-progress', 'no progress display')
    .action(async (options: BenchOptions, command: Command) => {
      const harness = await load<Harness>('harness.mjs');
      if (options.list) {
        for (const p of harness.PRIMITIVES) {
          const notes = [
            p.latencyOnly && 'latency only',
            p.throughputOnly && 'throughput only',
            p.optional && 'only with --only',
            p.payload === 'object' && 'objects',
            p.payload === 'call' && 'calls',
            p.payload === 'fanout' && 'fan-out',
          ].filter(Boolean);
          const note = notes.length > 0 ? ` (${notes.join(', ')})` : '';
          process.stdout.write(`${p.id.padEnd(16)} ${p.group.padEnd(7)} ${p.label}${note}\n`);
        }
        return;
      }
      let primitives: string[];
      try {
        primitives = harness
          .selectPrimitives(options.only, options.payload ?? harness.DEFAULTS.payloads)
          .map((p) => p.id);
        // The baselines always run: every ratio needs them.
        primitives = harness.withBaselines(primitives, options.baseline);
      } catch (error) {
        command.error(`shmkit bench: ${(error as Error).message} (shmkit bench --list shows the ids)`, { exitCode: 2 });
        return;
      }
      if (!harness.PRIMITIVES.some((p) => p.id === options.baseline && !p.latencyOnly && !p.payload)) {
        command.error(`shmkit bench: unknown --baseline '${options.baseline}' (shmkit bench --list shows the ids)`, {
          exitCode: 2,
        });
        return;
      }
      if (options.chart && !/\.(svg|html?)$/i.test(options.chart)) {
        command.error('shmkit bench: --chart must name a .svg or .html file', { exitCode: 2 });
        return;
      }
      const report = await load<Report>('report.mjs');
      const compare = await load<Compare>('compare.mjs');
      // Every check comes before the first measurement, not after minutes of it.
      if (options.chart && !(await report.loadEcharts())) throw chartUnavailable();
      let before: BenchResult | undefined;
      let saved: BenchResult | undefined;
      try {
        if (options.compare) before = compare.loadResult(options.compare);
        if (options.from) saved = compare.loadResult(options.from);
      } catch (error) {
        command.error(`shmkit bench: ${(error as Error).message}`, { exitCode: 2 });
        return;
      }
      if (saved) {
        await printResult(saved, options, report, compare, before);
        return;
      }
      if (options.pin) {
        const placement = await load<Placement>('placement.mjs');
        const problem = placement.pinPlacement(options.pin).error;
        if (problem) {
          command.error(`shmkit bench: ${problem}`, { exitCode: 2 });
          return;
        }
      }
      const nativeTools = await harness.prepareNativeTools(primitives);
      if (nativeTools.error) {
        // A native row named by its id in --only was asked for: that is an error. Chosen by
        // the default catalog or a group (native, c), the rows are skipped, and this says why once.
        const named = harness.PRIMITIVES.filter((p) => p.native && options.only?.includes(p.id));
        if (named.length > 0) throw nativeTools.error;
        process.stderr.write(
          `note: the native rows are skipped: ${nativeTools.error.message} (${nativeTools.error.code})\n`,
        );
      }
      const progress = await makeProgress(options.progress, harness);
      const result = await harness.runBench(
        {
          primitives,
          sizes: options.sizes ?? harness.DEFAULTS.sizes,
          duration: options.duration ?? harness.DEFAULTS.duration,
          repeat: options.repeat,
          count: options.count,
          quick: options.quick,
          pin: options.pin,
          rounds: options.rounds,
          baseline: options.baseline,
          payloads: options.payload ?? harness.DEFAULTS.payloads,
          ringCapacity: options.ringCapacity,
          wakeup: options.wakeup,
          crowd: options.crowd === true ? harness.DEFAULT_CROWD : options.crowd,
          idle: options.idle,
          nats: options.nats,
          nativeTools,
        },
        progress,
      );
      await printResult(result, options, report, compare, before);
    });
}

/** Prints the report (and the comparison with `before`), writes the files asked for; exit code 1 if a row failed. */
async function printResult(
  result: BenchResult,
  options: BenchOptions,
  report: Report,
  compare: Compare,
  before: BenchResult | undefined,
): Promise<void> {
  // --json -: stdout carries the JSON and nothing else; the report goes to stderr.
  const toStdout = options.json === '-';
  const text = toStdout ? process.stderr : process.stdout;
  text.write(`${report.renderText(result)}\n`);
  if (before) {
    const comparison = compare.compareResults(before, result);
    text.write(`\n${compare.renderComparison(comparison, before, result)}\n`);
  }
  const written = await report.writeOutputs(result, {
    json: options.json,
    csv: options.csv,
    md: options.md,
    chart: options.chart,
  });
  for (const file of written) text.write(`wrote ${file}\n`);
  if (toStdout) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (!result.ok) process.exitCode = 1;
}

/** ERR_SHMKIT_NO_ECHARTS: --chart without the optional peer dependency echarts. */
function chartUnavailable(): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_NO_ECHARTS',
    "--chart needs the package 'echarts' (an optional peer dependency of shmkit, not installed with it): " +
      'run `npm install echarts` where shmkit is installed (`npm install -g echarts` beside a global shmkit)',
  );
}

/**
 * Progress on stderr (so stdout keeps only the report, or the JSON of --json -): a
 * cli-progress bar when stderr is a terminal, else one line per finished case.
 */
async function makeProgress(enabled: boolean, harness: Harness) {
  if (!enabled) return {};
  let total = 0;
  let done = 0;
  const describe = (row: BenchRow, type: string) => {
    const what = {
      throughput: harness.sizeLabel(row.size),
      latency: 'latency',
      objects: 'objects',
      objectLatency: 'objects latency',
      calls: 'pipelined calls',
      callLatency: 'sequential calls',
      fanout: `fan-out ${harness.sizeLabel(row.size)}`,
      wakeup: `wake-up ${row.placement}`,
      crowd: `${row.placement}, among ${row.pending} pending`,
      idle: 'idle',
      nats: 'NATS rows',
      serviceLiveness: 'SIGKILL → disconnect, idle CPU',
    }[type];
    if (row.status !== 'ok') return `${row.label} ${what}: ${row.status}: ${row.reason}`;
    if (type === 'calls') return `${row.label} ${what}: ${Math.round(row.callsPerSec?.median ?? 0)} calls/s`;
    if (type === 'throughput' || type === 'objects' || type === 'fanout') {
      const note = row.stable === false ? ' (not stable)' : '';
      return `${row.label} ${what}: ${Math.round(row.msgsPerSec?.median ?? 0)} msgs/s${note}`;
    }
    if (type === 'idle') return `${row.label}: ${row.cpuMsPerSecond?.toFixed(2)} ms CPU/s`;
    if (type === 'serviceLiveness') return `${row.label} ${what}: measured (table below)`;
    if (type === 'crowd')
      return `${row.label} ${what}: p50 ${row.p50Us?.toFixed(1)} µs, ${row.ratio?.toFixed(2)}× alone`;
    return `${row.label} ${what}: p50 ${row.p50Us?.toFixed(1)} µs`;
  };
  if (!process.stderr.isTTY) {
    return {
      start(n: number) {
        total = n;
      },
      caseDone(row: BenchRow, type: string) {
        done++;
        process.stderr.write(`[${done}/${total}] ${describe(row, type)}\n`);
      },
    };
  }
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  const bar = new SingleBar(
    {
      format: ' {bar} {value}/{total} cases | {eta_formatted} left | {what}',
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr, // the stream whose TTY was checked above (cli-progress's default too)
    },
    Presets.shades_classic,
  );
  return {
    start(n: number) {
      total = n;
      bar.start(total, 0, { what: 'starting' });
    },
    step(text: string) {
      bar.update(done, { what: text });
    },
    caseDone() {
      done++;
      bar.update(done);
    },
    stop() {
      bar.stop();
    },
  };
}
