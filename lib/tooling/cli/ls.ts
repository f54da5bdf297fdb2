/**
 * `shmkit ls`: every shared memory object, semaphore, POSIX and SysV message
 * queue and shmkit FIFO, with who uses it and whether it is stale
 * (lib/tooling/inventory.ts; docs/cli.md).
 */
import Table from 'cli-table3';
import { type Command, InvalidArgumentError } from 'commander';
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

interface LsOptions {
  json?: boolean;
  kind?: IpcKind[];
  match?: string;
  stale?: boolean;
}

async function ls(options: LsOptions): Promise<void> {
  const { objects, notes } = await scanInventory({
    kinds: options.kind,
    match: options.match,
    pruneFifoRegistry: true,
  });
  const shown = options.stale ? objects.filter((object) => object.stale) : objects;
  for (const note of notes) process.stderr.write(`note: ${note}\n`);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return;
  }
  if (shown.length > 0) process.stdout.write(`${renderTable(shown)}\n`);
  process.stdout.write(`${summary(shown)}\n`);
}

export function register(program: Command): void {
  program
    .command('ls')
    .description('list shared memory objects, semaphores, message queues and shmkit FIFOs, and who uses them')
    .option('--json', 'print a JSON array of objects (shape: docs/cli.md)')
    .option('--kind <kinds>', `only these kinds, comma-separated (${IPC_KINDS.join(', ')})`, parseKinds)
    .option('--match <text>', 'only objects whose name contains <text>')
    .option('--stale', 'only stale objects')
    .action(ls);
}
