/**
 * `shmkit ls`: every shared memory object, semaphore, POSIX and SysV message
 * queue and shmkit FIFO, with who uses it and whether it is stale
 * (lib/tooling/inventory.ts; docs/cli.md). Three formats: a table for people,
 * plain lines for pipes (the default when stdout is not a terminal, like
 * `docker ps` or `ipcs`), JSON for programs.
 */
import Table from 'cli-table3';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { IPC_KINDS, type IpcKind, type IpcObject, scanInventory } from '../inventory.js';

/** Parses a comma-separated list of kinds (commander argument parser). */
export function parseKinds(value: string): IpcKind[] {
  const kinds = value.split(',').map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!(IPC_KINDS as readonly string[]).includes(kind)) {
      throw new InvalidArgumentError(`unknown kind '${kind}' (kinds: ${IPC_KINDS.join(', ')}).`);
    }
  }
  return kinds as IpcKind[];
}

export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

function formatSize(object: IpcObject): string {
  if (object.kind === 'posix-mq' || object.kind === 'sysv-mq') {
    return `${object.messages ?? '?'} msg / ${object.size} B`;
  }
  if (object.kind === 'sysv-sem') return `${object.size} sem`;
  return object.kind === 'fifo' ? '-' : String(object.size);
}

function formatAttached(object: IpcObject): string {
  if (object.kind === 'sysv-mq') return `last snd ${object.lastSendPid || '-'}, rcv ${object.lastReceivePid || '-'}`;
  let text = object.attached && object.attached.length > 0 ? object.attached.join(', ') : 'none';
  if (object.creatorPid !== null) text += `; creator ${object.creatorPid} ${object.creatorAlive ? 'alive' : 'dead'}`;
  return text;
}

/** The one-line summary under the table. */
export function summary(objects: IpcObject[]): string {
  if (objects.length === 0) return 'No objects.';
  const counts = IPC_KINDS.map((kind) => [kind, objects.filter((o) => o.kind === kind).length] as const)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${count} ${kind}`);
  const stale = objects.filter((o) => o.stale).length;
  const plural = objects.length === 1 ? 'object' : 'objects';
  const tail = stale > 0 ? `; ${stale} stale ('shmkit rm --stale' removes them)` : '; none stale';
  return `${objects.length} ${plural} (${counts.join(', ')})${tail}.`;
}

/** The columns of the plain format, in order. */
export const PLAIN_COLUMNS = ['name', 'kind', 'size', 'messages', 'mode', 'owner', 'age', 'attached', 'stale'] as const;

/**
 * One whitespace-free field of the plain format: ASCII whitespace (space, tab, newline…)
 * and backslash written as octal escapes (\040 \011 \012 \134), as /proc/mounts does, so
 * a name can never split a line or a column.
 */
export function plainField(text: string): string {
  return text.replace(/[\\ \t\n\r\v\f]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function plainRow(object: IpcObject): string[] {
  return [
    object.name,
    object.kind,
    String(object.size),
    object.messages === null ? '-' : String(object.messages),
    formatMode(object.mode),
    object.owner,
    String(object.ageSeconds),
    object.attached && object.attached.length > 0 ? object.attached.join(',') : '-',
    object.stale ? 'yes' : 'no',
  ].map(plainField);
}

/**
 * The plain format: a header line, then one line per object, fields separated by
 * spaces and padded into columns; no border and no summary. Sizes in bytes, age in
 * whole seconds, attached pids comma-separated ('-': none, or a SysV queue).
 */
export function renderPlain(objects: IpcObject[]): string {
  const rows = [[...PLAIN_COLUMNS] as string[], ...objects.map(plainRow)];
  const widths = PLAIN_COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((field, i) => (i === row.length - 1 ? field : field.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderTable(objects: IpcObject[]): string {
  const table = new Table({
    head: ['name', 'kind', 'size', 'mode', 'owner', 'age', 'attached', 'stale'],
    style: { head: [], border: [] },
  });
  for (const object of objects) {
    table.push([
      object.name,
      object.kind,
      formatSize(object),
      formatMode(object.mode),
      object.owner,
      formatAge(object.ageSeconds),
      formatAttached(object),
      object.stale ? 'stale' : '',
    ]);
  }
  return table.toString();
}

export const LS_FORMATS = ['plain', 'table', 'json'] as const;
export type LsFormat = (typeof LS_FORMATS)[number];

interface LsOptions {
  json?: boolean;
  format?: LsFormat;
  kind?: IpcKind[];
  match?: string;
  stale?: boolean;
}

async function ls(options: LsOptions, command: Command): Promise<void> {
  if (options.json && options.format && options.format !== 'json') {
    command.error(`shmkit ls: --json and --format ${options.format} contradict each other`, { exitCode: 2 });
  }
  const format: LsFormat = options.json ? 'json' : (options.format ?? (process.stdout.isTTY ? 'table' : 'plain'));
  const { objects, notes } = await scanInventory({
    kinds: options.kind,
    match: options.match,
    pruneFifoRegistry: true,
  });
  const shown = options.stale ? objects.filter((object) => object.stale) : objects;
  for (const note of notes) process.stderr.write(`note: ${note}\n`);
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return;
  }
  if (format === 'plain') {
    process.stdout.write(`${renderPlain(shown)}\n`);
    return;
  }
  if (shown.length > 0) process.stdout.write(`${renderTable(shown)}\n`);
  process.stdout.write(`${summary(shown)}\n`);
}

export function register(program: Command): void {
  program
    .command('ls')
    .description('list shared memory objects, semaphores, message queues and shmkit FIFOs, and who uses them')
    .addOption(
      new Option(
        '--format <format>',
        'table, plain (a header and one line per object) or json; default: table on a terminal, else plain',
      ).choices(LS_FORMATS),
    )
    .option('--json', 'the same as --format json: a JSON array of objects (shape: docs/cli.md)')
    .option('--kind <kinds>', `only these kinds, comma-separated (${IPC_KINDS.join(', ')})`, parseKinds)
    .option('--match <text>', 'only objects whose name contains <text>')
    .option('--stale', 'only stale objects')
    .action(ls);
}
