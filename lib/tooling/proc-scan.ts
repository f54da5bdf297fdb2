/**
 * Who uses a kernel object, read from /proc (Linux): which processes map a
 * file (/proc/PID/maps) and which hold it open (/proc/PID/fd). Whether a
 * pid is alive is lib/core/processes.ts.
 *
 * Files are matched by device and inode, never by path: a named semaphore,
 * for one, is mapped under the temporary name glibc created it with
 * ("/dev/shm/sem.XXXXXX (deleted)"), and a process may see /dev/shm under
 * another path in another mount namespace.
 *
 * Nothing here opens or maps the objects themselves. Processes whose maps or
 * fds this user may not read are counted (see {@link ProcScan.hidden}), so
 * that a caller can refuse to call an object unused when it cannot know.
 */
import type { BigIntStats } from 'node:fs';
import fsp from 'node:fs/promises';

/** A file's identity: "major:minor:inode". */
export type FileKey = string;

/** The result of a scan: for each wanted file, the pids using it; and what could not be seen. */
export interface ProcScan {
  /** Pids (ascending) that map / hold open each wanted file; files nobody uses are absent. */
  holders: Map<FileKey, number[]>;
  /** Uids of the processes this user could not inspect (their maps or fds were not readable). */
  hidden: Set<number>;
}

const CONCURRENCY = 16;

function devParts(dev: bigint): [number, number] {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return [major, minor];
}

/** The {@link FileKey} of a file from its (bigint) stat. */
export function fileKey(stats: Pick<BigIntStats, 'dev' | 'ino'>): FileKey {
  const [major, minor] = devParts(stats.dev);
  return `${major}:${minor}:${stats.ino}`;
}

/** The device of a stat as /proc/PID/maps prints it: "00:1b". */
function mapsDevice(stats: Pick<BigIntStats, 'dev'>): string {
  const [major, minor] = devParts(stats.dev);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

async function listPids(): Promise<number[]> {
  const entries = await fsp.readdir('/proc');
  return entries.filter((entry) => /^\d+$/.test(entry)).map(Number);
}

/** Runs `task` over `items` with at most CONCURRENCY in flight. */
async function eachLimited<T>(items: T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

function code(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

async function ownerOf(pid: number): Promise<number | undefined> {
  try {
    return (await fsp.stat(`/proc/${pid}`)).uid;
  } catch {
    return undefined; // gone
  }
}

function add(holders: Map<FileKey, number[]>, key: FileKey, pid: number): void {
  const pids = holders.get(key);
  if (!pids) holders.set(key, [pid]);
  else if (!pids.includes(pid)) pids.push(pid);
}

function sorted(scan: ProcScan): ProcScan {
  for (const pids of scan.holders.values()) pids.sort((a, b) => a - b);
  return scan;
}

/**
 * Which processes map each of `files` (shared memory objects, semaphores), by
 * scanning every /proc/PID/maps.
 */
export async function scanMappers(files: BigIntStats[]): Promise<ProcScan> {
  if (files.length === 0) return { holders: new Map(), hidden: new Set() };
  const wanted = new Set(files.map(fileKey));
  const devices = new Set(files.map(mapsDevice));
  return scanMaps((fields) => {
    const device = fields[3];
    const inode = fields[4];
    if (device === undefined || inode === undefined || inode === '0' || !devices.has(device)) return undefined;
    const [major, minor] = device.split(':').map((part) => Number.parseInt(part, 16));
    const key = `${major}:${minor}:${inode}`;
    return wanted.has(key) ? key : undefined;
  });
}

/**
 * Which processes attach each of the System V segments `ids` (shmids), by
 * scanning every /proc/PID/maps: an attachment shows as "/SYSV<key>" with
 * the shmid as its inode. Keyed by `sysvShmKey(id)`.
 */
export async function scanSysvAttachers(ids: number[]): Promise<ProcScan> {
  if (ids.length === 0) return { holders: new Map(), hidden: new Set() };
  const wanted = new Set(ids.map(String));
  return scanMaps((fields) => {
    const inode = fields[4];
    if (inode === undefined || !fields[5]?.startsWith('/SYSV') || !wanted.has(inode)) return undefined;
    return sysvShmKey(Number(inode));
  });
}

/**
 * Reads every /proc/PID/maps; `keyOf` names what a line ("start-end perms
 * offset dev inode path", split in 6) maps, or undefined. A process counts
 * once per key, however many of its lines match; one whose maps this user
 * may not read adds its owner to `hidden`.
 */
async function scanMaps(keyOf: (fields: string[]) => FileKey | undefined): Promise<ProcScan> {
  const scan: ProcScan = { holders: new Map(), hidden: new Set() };
  await eachLimited(await listPids(), async (pid) => {
    let text: string;
    try {
      text = await fsp.readFile(`/proc/${pid}/maps`, 'utf8');
    } catch (error) {
      if (code(error) === 'EACCES' || code(error) === 'EPERM') {
        const uid = await ownerOf(pid);
        if (uid !== undefined) scan.hidden.add(uid);
      }
      return; // ENOENT/ESRCH: the process is gone
    }
    const seen = new Set<FileKey>();
    for (const line of text.split('\n')) {
      const key = keyOf(line.split(/\s+/, 6));
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      add(scan.holders, key, pid);
    }
  });
  return sorted(scan);
}

/** The holders key of System V segment `id` in a {@link scanSysvAttachers} scan. */
export function sysvShmKey(id: number): FileKey {
  return `sysv-shm:${id}`;
}

/** Link targets that are never a file anyone names: skip the stat. */
const ANONYMOUS = /^(pipe|socket|anon_inode|memfd|\/memfd):/;

/**
 * Which processes hold each of `files` (FIFOs, POSIX message queues) open,
 * by looking at every /proc/PID/fd/N.
 */
export async function scanOpenFiles(files: BigIntStats[]): Promise<ProcScan> {
  const scan: ProcScan = { holders: new Map(), hidden: new Set() };
  if (files.length === 0) return scan;
  const wanted = new Set(files.map(fileKey));
  await eachLimited(await listPids(), async (pid) => {
    const dir = `/proc/${pid}/fd`;
    let fds: string[];
    try {
      fds = await fsp.readdir(dir);
    } catch (error) {
      if (code(error) === 'EACCES' || code(error) === 'EPERM') {
        const uid = await ownerOf(pid);
        if (uid !== undefined) scan.hidden.add(uid);
      }
      return;
    }
    for (const fd of fds) {
      try {
        if (ANONYMOUS.test(await fsp.readlink(`${dir}/${fd}`))) continue;
        const key = fileKey(await fsp.stat(`${dir}/${fd}`, { bigint: true }));
        if (wanted.has(key)) add(scan.holders, key, pid);
      } catch {
        // closed meanwhile, or not stat-able
      }
    }
  });
  return sorted(scan);
}
