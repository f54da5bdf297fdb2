/**
 * `shmkit rm NAME…`, `shmkit rm --stale`, `shmkit rm --all`: removes kernel
 * IPC objects with shmkit's own unlink functions (docs/cli.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import type { Command } from 'commander';
import { Fifo } from '../../primitives/fifo.js';
import { PosixMessageQueue } from '../../primitives/posix-mq.js';
import { Semaphore } from '../../primitives/semaphore.js';
import { SharedMemory } from '../../primitives/shm.js';
import { SysvMessageQueue } from '../../primitives/sysv-mq.js';
import { SysvSemaphoreSet } from '../../primitives/sysv-sem.js';
import { SysvSharedMemory } from '../../primitives/sysv-shm.js';
import {
  type IpcKind,
  type IpcObject,
  MQUEUE_DIR,
  SHM_DIR,
  SYSV_KINDS,
  scanInventory,
  shmKindOf,
  sysvName,
} from '../inventory.js';
import { parseKinds } from './ls.js';

/** Something `rm` can remove: what to call it and how. */
interface Target {
  kind: IpcKind;
  name: string;
  reason?: string | null;
  remove(): void;
}

interface RmOptions {
  kind?: IpcKind[];
  stale?: boolean;
  all?: boolean;
  match?: string;
  dryRun?: boolean;
  yes?: boolean;
}

/** A failure to resolve or remove one object: printed, and the exit code becomes 1. */
class RmFailure extends Error {}

function targetOf(object: IpcObject): Target {
  const { kind, name } = object;
  const base = { kind, name, reason: object.staleReason };
  if (kind === 'semaphore') return { ...base, remove: () => Semaphore.unlink(`/${name.slice('sem.'.length)}`) };
  if (kind === 'posix-mq') return { ...base, remove: () => PosixMessageQueue.unlink(name) };
  if (kind === 'sysv-mq') return { ...base, remove: () => SysvMessageQueue.fromId(object.id ?? -1).remove() };
  if (kind === 'sysv-shm') return { ...base, remove: () => SysvSharedMemory.fromId(object.id ?? -1).remove() };
  if (kind === 'sysv-sem') return { ...base, remove: () => SysvSemaphoreSet.fromId(object.id ?? -1).remove() };
  if (kind === 'fifo') return { ...base, remove: () => Fifo.unlink(name) };
  return { ...base, remove: () => SharedMemory.unlink(name) };
}

function isFile(file: string): boolean {
  try {
    return fs.lstatSync(file).isFile();
  } catch {
    return false;
  }
}

async function shmTarget(posix: string): Promise<Target> {
  const entry = posix.slice(1);
  if (!isFile(path.join(SHM_DIR, entry))) throw new RmFailure(`no shared memory object '${posix}' in ${SHM_DIR}`);
  const kind = await shmKindOf(entry);
  return { kind: kind === 'semaphore' ? 'shm' : kind, name: posix, remove: () => SharedMemory.unlink(posix) };
}

function semaphoreTarget(posix: string): Target {
  const file = `sem.${posix.slice(1)}`;
  if (!isFile(path.join(SHM_DIR, file))) throw new RmFailure(`no semaphore '${posix}' (${SHM_DIR}/${file})`);
  return { kind: 'semaphore', name: file, remove: () => Semaphore.unlink(posix) };
}

function mqTarget(posix: string): Target {
  if (!fs.existsSync(path.join(MQUEUE_DIR, posix.slice(1)))) {
    throw new RmFailure(`no POSIX message queue '${posix}' in ${MQUEUE_DIR}`);
  }
  return { kind: 'posix-mq', name: posix, remove: () => PosixMessageQueue.unlink(posix) };
}

function fifoTarget(arg: string): Target {
  const file = path.resolve(arg);
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(file);
  } catch {
    throw new RmFailure(`no such FIFO '${file}'`);
  }
  if (!stats.isFIFO()) throw new RmFailure(`'${file}' is not a FIFO; shmkit rm removes nothing else by path`);
  return { kind: 'fifo', name: file, remove: () => Fifo.unlink(file) };
}

/** What a System V NAME says: by key or by id, and the number. */
function sysvNumber(arg: string): { byKey: boolean; value: number } {
  const match = /^(key|id):(0x[0-9a-f]+|-?\d+)$/i.exec(arg.trim());
  const bare = /^\d+$/.test(arg.trim()) ? Number(arg) : undefined;
  if (!match && bare === undefined) {
    throw new RmFailure(`'${arg}' is not a System V object: write key:0x1234 (or a decimal key) or id:5`);
  }
  const value = match ? Number(match[2]) : (bare as number);
  if (!Number.isSafeInteger(value)) throw new RmFailure(`'${arg}' is not a System V key or id`);
  return {
    byKey: match?.[1]?.toLowerCase() === 'key',
    value: match?.[1]?.toLowerCase() === 'key' && value > 0x7fffffff ? value | 0 : value,
  };
}

const SYSV_NOUNS: Record<string, string> = {
  'sysv-mq': 'SysV message queue',
  'sysv-shm': 'SysV shared memory segment',
  'sysv-sem': 'SysV semaphore set',
};

/** One System V object of `kind` named by `arg` (key:…, id:…, a decimal key). */
function sysvTarget(arg: string, kind: IpcKind): Target {
  const { byKey, value } = sysvNumber(arg);
  try {
    if (kind === 'sysv-shm') {
      const shm = byKey ? SysvSharedMemory.open(value) : SysvSharedMemory.fromId(value);
      return { kind, name: sysvName(shm.key, shm.id), remove: () => shm.remove() };
    }
    if (kind === 'sysv-sem') {
      const set = byKey ? SysvSemaphoreSet.open(value) : SysvSemaphoreSet.fromId(value);
      return { kind, name: sysvName(set.key, set.id), remove: () => set.remove() };
    }
    const queue = byKey ? SysvMessageQueue.open({ key: value }) : SysvMessageQueue.fromId(value);
    if (!byKey) queue.stat(); // fromId does not check that it exists
    return { kind: 'sysv-mq', name: sysvName(queue.key, queue.id), remove: () => queue.remove() };
  } catch (error) {
    throw new RmFailure(`no ${SYSV_NOUNS[kind]} ${arg} (${(error as Error).message})`);
  }
}

/** A System V NAME without --kind: the one queue, segment or set it names (ids and keys are per kind). */
function anySysvTarget(arg: string): Target {
  sysvNumber(arg); // a malformed NAME says so once
  const found: Target[] = [];
  const failures: string[] = [];
  for (const kind of SYSV_KINDS) {
    try {
      found.push(sysvTarget(arg, kind));
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  if (found.length === 1) return found[0] as Target;
  if (found.length > 1) {
    throw new RmFailure(`'${arg}' names a ${found.map((t) => t.kind).join(' and a ')}: say which with --kind`);
  }
  throw new RmFailure(`no System V object ${arg} (${failures.join('; ')})`);
}

/** Resolves one NAME argument, as docs/cli.md describes, into what to remove. */
async function resolve(arg: string, kind: IpcKind | undefined): Promise<Target> {
  const posix = (name: string) => (name.startsWith('/') ? name : `/${name}`);
  const semFile = (name: string) => !name.startsWith('/') && name.startsWith('sem.') && name.length > 4;
  if (kind === 'fifo') return fifoTarget(arg);
  if (kind !== undefined && SYSV_KINDS.includes(kind)) return sysvTarget(arg, kind);
  if (kind === 'semaphore') return semaphoreTarget(posix(semFile(arg) ? arg.slice(4) : arg));
  if (kind === 'posix-mq') return mqTarget(posix(arg));
  if (kind !== undefined) return shmTarget(posix(arg)); // shm, ring, typed-queue, mutex
  if (/^(key|id):/i.test(arg)) return anySysvTarget(arg);
  if (arg.startsWith(`${SHM_DIR}/`)) return resolve(arg.slice(SHM_DIR.length + 1), undefined);
  if (arg.startsWith(`${MQUEUE_DIR}/`)) return mqTarget(`/${arg.slice(MQUEUE_DIR.length + 1)}`);
  if (semFile(arg)) return semaphoreTarget(`/${arg.slice(4)}`);
  if (arg.slice(1).includes('/') || arg.startsWith('.')) return fifoTarget(arg);
  const name = posix(arg);
  const found: Target[] = [];
  const failures: string[] = [];
  for (const attempt of [() => shmTarget(name), async () => mqTarget(name)]) {
    try {
      found.push(await attempt());
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  if (found.length === 1) return found[0] as Target;
  if (found.length > 1) {
    throw new RmFailure(`'${name}' is both a ${found.map((t) => t.kind).join(' and a ')}: say which with --kind`);
  }
  throw new RmFailure(`no object named '${name}' (${failures.join('; ')})`);
}

async function confirm(count: number): Promise<boolean> {
  const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`Remove ${count} object${count === 1 ? '' : 's'}? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

async function removeAll(targets: Target[]): Promise<number> {
  let failed = 0;
  for (const target of targets) {
    try {
      target.remove(); // a FIFO leaves the registry through Fifo.unlink()
      process.stdout.write(`removed ${target.kind} ${target.name}\n`);
    } catch (error) {
      failed++;
      process.stderr.write(`shmkit rm: cannot remove ${target.kind} ${target.name}: ${(error as Error).message}\n`);
    }
  }
  return failed;
}

async function rm(names: string[], options: RmOptions, command: Command): Promise<void> {
  const usage = (message: string) => command.error(`error: ${message}`, { exitCode: 2, code: 'shmkit.usage' });
  if (options.stale && options.all) usage('--stale and --all do not go together');
  const bulk = options.stale || options.all;
  if (bulk && names.length > 0) usage('give NAMEs, or --stale, or --all — not both');
  if (!bulk && names.length === 0) usage('nothing to remove: give NAMEs, --stale or --all (see shmkit rm --help)');
  if (!bulk && options.match !== undefined) usage('--match only applies to --stale and --all');
  if (!bulk && options.kind && options.kind.length > 1) usage('with NAMEs, --kind takes one kind');

  let targets: Target[] = [];
  let failed = 0;
  if (bulk) {
    const { objects, notes } = await scanInventory({
      kinds: options.kind,
      match: options.match,
      pruneFifoRegistry: true,
    });
    for (const note of notes) process.stderr.write(`note: ${note}\n`);
    targets = objects.filter((object) => options.all || object.stale).map(targetOf);
  } else {
    for (const name of names) {
      try {
        targets.push(await resolve(name, options.kind?.[0]));
      } catch (error) {
        if (!(error instanceof RmFailure)) throw error;
        failed++;
        process.stderr.write(`shmkit rm: cannot remove '${name}': ${error.message}\n`);
      }
    }
  }

  const plural = (count: number) => `${count} object${count === 1 ? '' : 's'}`;
  if (options.dryRun) {
    for (const target of targets) {
      process.stdout.write(`would remove ${target.kind} ${target.name}${target.reason ? ` (${target.reason})` : ''}\n`);
    }
    process.stdout.write(`${plural(targets.length)} would be removed (dry run: nothing removed).\n`);
  } else {
    if (options.all && targets.length > 0 && !options.yes) {
      if (!process.stdin.isTTY) {
        process.stderr.write(
          `shmkit rm: refusing to remove ${plural(targets.length)} without confirmation: ` +
            'stdin is not a terminal. Pass --yes to remove them, or --dry-run to see them.\n',
        );
        process.exitCode = 1;
        return;
      }
      for (const target of targets) process.stderr.write(`  ${target.kind} ${target.name}\n`);
      if (!(await confirm(targets.length))) {
        process.stderr.write('Nothing removed.\n');
        process.exitCode = 1;
        return;
      }
    }
    failed += await removeAll(targets);
    if (bulk) process.stdout.write(`Removed ${plural(targets.length - failed)}.\n`);
  }
  if (failed > 0) process.exitCode = 1;
}

export function register(program: Command): void {
  program
    .command('rm')
    .description('remove IPC objects: the NAMEs given, every stale one (--stale), or all of them (--all)')
    .argument('[names...]', "objects as 'shmkit ls' names them: /NAME, sem.NAME, key:0x1234, id:5, a FIFO's path")
    .option(
      '--kind <kind>',
      'read NAMEs as this kind; with --stale/--all, only these kinds (comma-separated)',
      parseKinds,
    )
    .option('--stale', 'remove every stale object (see shmkit ls)')
    .option('--all', "remove every object 'shmkit ls' shows; asks first unless --yes")
    .option('--match <text>', 'with --stale/--all: only objects whose name contains <text>')
    .option('-n, --dry-run', 'print what would be removed; remove nothing')
    .option('-y, --yes', 'do not ask for confirmation (--all)')
    .action(rm);
}
