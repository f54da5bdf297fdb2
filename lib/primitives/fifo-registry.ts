/**
 * The FIFO registry: where Fifo.create records the FIFOs it makes (one
 * absolute path a line) so that `shmkit ls` / `shmkit rm` can find them
 * (docs/cli.md). One file per user in /dev/shm; since that directory is
 * world-writable, a registry is trusted only while its user owns it and
 * nobody else may write it. It disappears when its last FIFO is unlinked.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { codedError } from '../core/errors.js';

export const FIFO_REGISTRY = `/dev/shm/shmkit-fifos.${process.getuid?.() ?? 0}.registry`;

const { O_RDONLY, O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

function ours(stats: fs.Stats): boolean {
  return stats.uid === (process.getuid?.() ?? stats.uid) && (stats.mode & 0o022) === 0;
}

/** Appends `file`; never throws: a FIFO that is not registered still works. */
export function registerFifo(file: string): void {
  try {
    const absolute = nodePath.resolve(file);
    if (absolute.includes('\n')) return;
    // O_APPEND: each line is one write and never torn; O_NOFOLLOW: /dev/shm is world-writable.
    const fd = fs.openSync(FIFO_REGISTRY, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
    try {
      if (ours(fs.fstatSync(fd))) fs.writeSync(fd, `${absolute}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // no /dev/shm, or the registry belongs to another user: not listed by `shmkit ls`
  }
}

/**
 * The registered paths, or undefined when there is no registry; throws with
 * `code: 'ERR_SHMKIT_REGISTRY_NOT_OURS'` when the file is not ours alone.
 */
export function readFifoRegistry(): string[] | undefined {
  let fd: number;
  try {
    fd = fs.openSync(FIFO_REGISTRY, O_RDONLY | O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    if (!ours(fs.fstatSync(fd))) {
      throw codedError('ERR_SHMKIT_REGISTRY_NOT_OURS', `${FIFO_REGISTRY} is not owned by you alone; remove it`);
    }
    return fs
      .readFileSync(fd, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('/'));
  } finally {
    fs.closeSync(fd);
  }
}

function isFifo(file: string): boolean {
  try {
    return fs.lstatSync(file).isFIFO();
  } catch {
    return false;
  }
}

/**
 * Keeps only entries that are still FIFOs (each once); removes the registry
 * when none is left. A FIFO registered at the same instant may drop out of
 * the registry (never off the disk): the file is re-read just before it is
 * replaced, to keep that window small. Never throws.
 */
export function pruneFifoRegistry(): void {
  const tmp = `${FIFO_REGISTRY}.${process.pid}.tmp`;
  try {
    const lines = readFifoRegistry();
    if (!lines) return;
    const keep = new Set(lines.filter(isFifo));
    if (keep.size === lines.length) return;
    for (const line of readFifoRegistry() ?? []) if (!lines.includes(line) && isFifo(line)) keep.add(line);
    if (keep.size === 0) {
      fs.rmSync(FIFO_REGISTRY, { force: true });
      return;
    }
    const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, [...keep].map((line) => `${line}\n`).join(''));
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, FIFO_REGISTRY);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}
