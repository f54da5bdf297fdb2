/**
 * What kernel IPC objects exist, who uses them, and which are stale — the
 * listing behind `shmkit ls` and `shmkit rm` (docs/cli.md), usable from code:
 *
 *     const objects = await listObjects();
 *     for (const o of objects.filter((o) => o.stale)) console.log(o.kind, o.name);
 *
 * It reads, and never maps: the first bytes of each /dev/shm object (a plain
 * read, to tell rings, typed queues and mutexes from other segments),
 * /dev/mqueue, /proc/sysvipc/msg, shmkit's FIFO registry and /proc/PID/maps
 * and /proc/PID/fd. Nothing read from an object is trusted: a short or
 * garbled header just makes the object a plain `shm`.
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from '../core/processes.js';
import { pruneFifoRegistry, readFifoRegistry } from '../primitives/fifo-registry.js';
import { PosixMessageQueue } from '../primitives/posix-mq.js';
import { I32 as SERVICE_I32, MAGIC as SERVICE_MAGIC } from '../services/format.js';
import { HEADER_BYTES, OFFSET, RING_MAGIC } from '../structures/ring/format.js';
import { HEADER_BYTES as TOPIC_HEADER_BYTES, TOPIC_MAGIC, OFFSET as TOPIC_OFFSET } from '../structures/topic/format.js';
import { fileKey, type ProcScan, scanMappers, scanOpenFiles } from './proc-scan.js';

/** Every kind `listObjects` tells apart, in the order listings sort them. */
export const IPC_KINDS = [
  'shm',
  'ring',
  'typed-queue',
  'mutex',
  'service',
  'service-ring',
  'topic',
  'semaphore',
  'posix-mq',
  'sysv-mq',
  'fifo',
] as const;
export type IpcKind = (typeof IPC_KINDS)[number];

/** Kinds that live in /dev/shm and are mapped by their users. */
export const SHM_BACKED_KINDS: readonly IpcKind[] = IPC_KINDS.filter(
  (kind) => kind !== 'posix-mq' && kind !== 'sysv-mq' && kind !== 'fifo',
);

/** Kinds whose header names the process that made them (creatorPid): a ring's creator, a service's server, a topic's publisher. */
const CREATED_KINDS: readonly IpcKind[] = ['ring', 'typed-queue', 'service', 'service-ring', 'topic'];

/** One kernel object. Every field is always present (null where it does not apply). */
export interface IpcObject {
  kind: IpcKind;
  /**
   * What `shmkit rm` takes to remove exactly this object: '/NAME' (shm, ring,
   * typed-queue, mutex, posix-mq), 'sem.NAME' (semaphore), 'key:0x0000abcd'
   * (SysV; 'id:N' for a private queue), the absolute path (fifo).
   */
  name: string;
  /** The file behind it (/dev/shm/…, /dev/mqueue/…, the FIFO); null for SysV queues. */
  path: string | null;
  /** SysV queues: key_t and msqid; null otherwise. */
  key: number | null;
  id: number | null;
  /** Bytes: the object's size; for queues, the bytes queued (FIFOs: 0). */
  size: number;
  /** Queues: messages queued (null for a POSIX queue this user may not open); null otherwise. */
  messages: number | null;
  /** Permission bits, e.g. 0o600 (384). */
  mode: number;
  uid: number;
  /** The owner's user name, or the uid as a string if /etc/passwd does not know it. */
  owner: string;
  /**
   * Last status change (ctime): creation for most objects, also a resize or chmod. POSIX
   * queues: the last modification (mtime): creation or the last message sent or received.
   */
  changedAt: string;
  /** Whole seconds since `changedAt`. */
  ageSeconds: number;
  /**
   * Pids that map the object (shm-backed kinds) or hold it open (fifo,
   * posix-mq), ascending; null for SysV queues, which have no such notion.
   */
  attached: number[] | null;
  /** Rings and typed queues: the creator's pid from the header, and whether that process still lives. */
  creatorPid: number | null;
  creatorAlive: boolean | null;
  /** SysV queues: pid of the last msgsnd / msgrcv (0: none yet). */
  lastSendPid: number | null;
  lastReceivePid: number | null;
  /** Nothing uses it any more (rules in docs/cli.md); `shmkit rm --stale` removes exactly these. */
  stale: boolean;
  /** Why it is stale; null when it is not. */
  staleReason: string | null;
}

export interface ListOptions {
  /** Only these kinds. */
  kinds?: readonly IpcKind[];
  /** Only objects whose name contains this text. */
  match?: string;
  /** Rewrite the FIFO registry without entries whose file is gone or no longer a FIFO (the CLI does). */
  pruneFifoRegistry?: boolean;
}

export interface Inventory {
  objects: IpcObject[];
  /** One-line remarks on what could not be listed (e.g. /dev/mqueue not mounted). */
  notes: string[];
}

export const SHM_DIR = '/dev/shm';
export const MQUEUE_DIR = '/dev/mqueue';
export const SYSV_MSG_FILE = '/proc/sysvipc/msg';

const MUTEX_MAGIC = 0x584d4d53; // lib/structures/mutex.ts
const MUTEX_BYTES = 128;
const MQUEUE_MAGIC = 0x19800202; // statfs f_type of the mqueue filesystem
const PID_MAX_LIMIT = 4194304;
/** A SysV queue nobody has sent to or received from is stale only this long after its creation. */
export const SYSV_UNUSED_GRACE_SECONDS = 60;

/** Lists every object; see {@link scanInventory} for the remarks too. */
export async function listObjects(options?: ListOptions): Promise<IpcObject[]> {
  return (await scanInventory(options)).objects;
}

// ---------------------------------------------------------------- helpers

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

let users: Map<number, string> | undefined;

function userName(uid: number): string {
  if (!users) {
    users = new Map();
    try {
      for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id && /^\d+$/.test(id) && !users.has(Number(id))) users.set(Number(id), name);
      }
    } catch {
      // no passwd file: uids it is
    }
  }
  return users.get(uid) ?? String(uid);
}

/** A candidate before the /proc scans fill in who uses it. */
interface Draft {
  object: IpcObject;
  stats?: BigIntStats;
  changedMs: number;
  lastSendMs?: number;
  lastReceiveMs?: number;
}

function draft(kind: IpcKind, name: string, fields: Partial<IpcObject>, changedMs: number, now: number): IpcObject {
  const uid = fields.uid ?? 0;
  return {
    kind,
    name,
    path: fields.path ?? null,
    key: fields.key ?? null,
    id: fields.id ?? null,
    size: fields.size ?? 0,
    messages: fields.messages ?? null,
    mode: fields.mode ?? 0,
    uid,
    owner: userName(uid),
    changedAt: new Date(changedMs).toISOString(),
    ageSeconds: Math.max(0, Math.floor((now - changedMs) / 1000)),
    attached: null,
    creatorPid: null,
    creatorAlive: null,
    lastSendPid: fields.lastSendPid ?? null,
    lastReceivePid: fields.lastReceivePid ?? null,
    stale: false,
    staleReason: null,
  };
}

function fileFields(stats: BigIntStats, file: string): Partial<IpcObject> {
  return { path: file, size: Number(stats.size), mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid) };
}

/** Reads up to 64 bytes of a regular file without following links or blocking. */
async function readHead(file: string): Promise<Buffer> {
  const handle = await fsp.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buffer, 0, 64, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** What the first bytes of a /dev/shm object say it is. Trusts nothing. */
export function kindFromHeader(
  head: Uint8Array,
  size: number,
): { kind: 'ring' | 'typed-queue' | 'mutex' | 'service' | 'topic' | 'shm'; creatorPid: number | null } {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.byteLength < 4) return { kind: 'shm', creatorPid: null };
  const magic = view.getUint32(0, true);
  if (magic === RING_MAGIC && head.byteLength >= OFFSET.creatorPid + 4 && size >= HEADER_BYTES) {
    const pid = view.getUint32(OFFSET.creatorPid, true);
    const fingerprint = view.getUint32(OFFSET.fingerprint, true);
    return {
      kind: fingerprint !== 0 ? 'typed-queue' : 'ring',
      creatorPid: pid > 0 && pid <= PID_MAX_LIMIT ? pid : null,
    };
  }
  if (magic === MUTEX_MAGIC && size >= MUTEX_BYTES) return { kind: 'mutex', creatorPid: null };
  const serverAt = SERVICE_I32.serverPid * 4;
  if (magic === SERVICE_MAGIC && head.byteLength >= serverAt + 4 && size >= 256) {
    const pid = view.getInt32(serverAt, true);
    return { kind: 'service', creatorPid: pid > 0 && pid <= PID_MAX_LIMIT ? pid : null };
  }
  const publisherAt = TOPIC_OFFSET.publisherPid;
  if (magic === TOPIC_MAGIC && head.byteLength >= publisherAt + 4 && size >= TOPIC_HEADER_BYTES) {
    const pid = view.getInt32(publisherAt, true);
    return { kind: 'topic', creatorPid: pid > 0 && pid <= PID_MAX_LIMIT ? pid : null };
  }
  return { kind: 'shm', creatorPid: null };
}

/** The kind of the /dev/shm object `entry` (a file name there), read as `shmkit ls` reads it. */
export async function shmKindOf(entry: string): Promise<IpcKind> {
  if (entry.startsWith('sem.') && entry.length > 4) return 'semaphore';
  try {
    const file = path.join(SHM_DIR, entry);
    const head = await readHead(file);
    return kindFromHeader(head, Number((await fsp.lstat(file)).size)).kind;
  } catch {
    return 'shm';
  }
}

/** Any user's FIFO registry (and its rewrite temp files) in /dev/shm. */
function isRegistryFile(name: string): boolean {
  return name.startsWith('shmkit-fifos.');
}

// ---------------------------------------------------------------- sources

async function shmObjects(now: number, notes: string[]): Promise<Draft[]> {
  let names: string[];
  try {
    names = await fsp.readdir(SHM_DIR);
  } catch (error) {
    notes.push(`${SHM_DIR} is not readable (${errorCode(error)}): no shared memory objects or semaphores listed.`);
    return [];
  }
  const drafts: Draft[] = [];
  for (const entry of names.sort()) {
    if (isRegistryFile(entry)) continue;
    const file = path.join(SHM_DIR, entry);
    let stats: BigIntStats;
    try {
      stats = await fsp.lstat(file, { bigint: true });
    } catch {
      continue; // removed meanwhile
    }
    if (!stats.isFile()) continue;
    const changedMs = Number(stats.ctimeMs);
    const fields = fileFields(stats, file);
    if (entry.startsWith('sem.') && entry.length > 4) {
      drafts.push({ object: draft('semaphore', entry, fields, changedMs, now), stats, changedMs });
      continue;
    }
    let head: Buffer = Buffer.alloc(0);
    try {
      head = await readHead(file);
    } catch {
      // not readable by this user: a plain shm object as far as we can tell
    }
    const { kind, creatorPid } = kindFromHeader(head, Number(stats.size));
    const object = draft(kind, `/${entry}`, fields, changedMs, now);
    object.creatorPid = creatorPid;
    drafts.push({ object, stats, changedMs });
  }
  markServiceRings(drafts);
  return drafts;
}

/** A ring named '<service>.<slot>.<generation>.req|res' beside that service is one of its connections. */
function markServiceRings(drafts: Draft[]): void {
  const services = new Set(drafts.filter((d) => d.object.kind === 'service').map((d) => d.object.name));
  if (services.size === 0) return;
  for (const { object } of drafts) {
    const match = /^(.*)\.\d+\.\d+\.(req|res)$/.exec(object.name);
    if (object.kind === 'ring' && match && services.has(match[1] as string)) object.kind = 'service-ring';
  }
}

async function mqueueMounted(): Promise<boolean> {
  try {
    return (await fsp.statfs(MQUEUE_DIR)).type === MQUEUE_MAGIC;
  } catch {
    return false;
  }
}

/** mq_getattr's count, for a queue that holds bytes; null if this user may not open it. mq_open and mq_getattr change none of the queue's times. */
function countMessages(name: string): number | null {
  try {
    const queue = PosixMessageQueue.open(name);
    try {
      return queue.attributes().currentMessages;
    } finally {
      queue.close();
    }
  } catch {
    return null;
  }
}

async function posixQueues(now: number, notes: string[]): Promise<Draft[]> {
  if (!(await mqueueMounted())) {
    notes.push(`POSIX message queues not listed: ${MQUEUE_DIR} is not mounted (mount -t mqueue none ${MQUEUE_DIR}).`);
    return [];
  }
  const drafts: Draft[] = [];
  for (const entry of (await fsp.readdir(MQUEUE_DIR)).sort()) {
    const file = path.join(MQUEUE_DIR, entry);
    let stats: BigIntStats;
    let text = '';
    try {
      stats = await fsp.lstat(file, { bigint: true });
      text = await fsp.readFile(file, 'utf8'); // "QSIZE:120 NOTIFY:0 SIGNO:0 NOTIFY_PID:0"
    } catch {
      continue;
    }
    const qsize = Number(/QSIZE:(\d+)/.exec(text)?.[1] ?? 0);
    // mtime, not ctime: reading /dev/mqueue/NAME (the only source of QSIZE) sets the queue's
    // ctime and atime to now (ipc/mqueue.c, mqueue_read_file), so a ctime would be the time of
    // the previous `ls`. mtime moves on creation and on every mq_send/mq_receive only.
    const changedMs = Number(stats.mtimeMs);
    const fields = { ...fileFields(stats, file), size: qsize, messages: qsize === 0 ? 0 : countMessages(`/${entry}`) };
    drafts.push({ object: draft('posix-mq', `/${entry}`, fields, changedMs, now), stats, changedMs });
  }
  return drafts;
}

/** The name `shmkit ls` gives a SysV queue. */
export function sysvName(key: number, id: number): string {
  return key !== 0 ? `key:0x${(key >>> 0).toString(16).padStart(8, '0')}` : `id:${id}`;
}

async function sysvQueues(now: number, notes: string[]): Promise<Draft[]> {
  let text: string;
  try {
    text = await fsp.readFile(SYSV_MSG_FILE, 'utf8');
  } catch {
    notes.push(`System V message queues not listed: ${SYSV_MSG_FILE} is not readable.`);
    return [];
  }
  const lines = text.split('\n');
  const header = (lines[0] ?? '').trim().split(/\s+/);
  const column = (name: string) => header.indexOf(name);
  const drafts: Draft[] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < header.length) continue;
    const get = (name: string) => Number(fields[column(name)]);
    const key = get('key') | 0;
    const id = get('msqid');
    if (!Number.isInteger(id)) continue;
    const changedMs = get('ctime') * 1000;
    const object = draft(
      'sysv-mq',
      sysvName(key, id),
      {
        key,
        id,
        size: get('cbytes'),
        messages: get('qnum'),
        mode: Number.parseInt(fields[column('perms')] ?? '0', 8) & 0o777,
        uid: get('uid'),
        lastSendPid: get('lspid'),
        lastReceivePid: get('lrpid'),
      },
      changedMs,
      now,
    );
    drafts.push({ object, changedMs, lastSendMs: get('stime') * 1000, lastReceiveMs: get('rtime') * 1000 });
  }
  return drafts.sort((a, b) => (a.object.id ?? 0) - (b.object.id ?? 0));
}

function registeredFifos(notes: string[]): string[] {
  try {
    return readFifoRegistry() ?? [];
  } catch (error) {
    notes.push(`FIFOs not listed: ${(error as Error).message} (${errorCode(error)}).`);
    return [];
  }
}

async function fifoStats(file: string): Promise<BigIntStats | undefined> {
  try {
    const stats = await fsp.lstat(file, { bigint: true });
    return stats.isFIFO() ? stats : undefined;
  } catch {
    return undefined;
  }
}

async function fifos(now: number, notes: string[]): Promise<Draft[]> {
  const drafts: Draft[] = [];
  for (const file of new Set(registeredFifos(notes))) {
    const stats = await fifoStats(file);
    // Only FIFOs that are still ours: a path may have been replaced since.
    if (!stats || Number(stats.uid) !== process.getuid?.()) continue;
    const changedMs = Number(stats.ctimeMs);
    drafts.push({
      object: draft('fifo', file, { ...fileFields(stats, file), size: 0 }, changedMs, now),
      stats,
      changedMs,
    });
  }
  return drafts.sort((a, b) => (a.object.name < b.object.name ? -1 : 1));
}

// ---------------------------------------------------------------- staleness

/** Whether processes this user could not inspect might use the object (so it cannot be called unused). */
function maybeHidden(scan: ProcScan, object: IpcObject): boolean {
  // Root's own processes are not counted: every non-root user has some, so
  // nothing would ever be stale for them; a root process mapping a user's
  // private object is the rare case docs/cli.md mentions.
  for (const uid of scan.hidden) {
    if (uid !== 0 && (uid === object.uid || (object.mode & 0o077) !== 0)) return true;
  }
  return false;
}

async function judge(item: Draft, mappers: ProcScan, openers: ProcScan): Promise<void> {
  const { object } = item;
  // Another user's object is never ours to call unused (a database's segment, say).
  if (object.uid !== process.getuid?.()) return;
  const set = (reason: string) => {
    object.stale = true;
    object.staleReason = reason;
  };
  if (object.kind === 'sysv-mq') {
    if (object.messages !== 0) return;
    const send = object.lastSendPid ?? 0;
    const receive = object.lastReceivePid ?? 0;
    if (send === 0 && receive === 0) {
      if (object.ageSeconds >= SYSV_UNUSED_GRACE_SECONDS) set(`empty and never used in ${object.ageSeconds} s`);
      return;
    }
    const sendAlive = send !== 0 && (await isAlive(send, item.lastSendMs || undefined));
    const receiveAlive = receive !== 0 && (await isAlive(receive, item.lastReceiveMs || undefined));
    if (!sendAlive && !receiveAlive) {
      const pids = [send, receive].filter((pid) => pid !== 0);
      set(`empty; its last sender/receiver (${[...new Set(pids)].join(', ')}) exited`);
    }
    return;
  }
  const scan = SHM_BACKED_KINDS.includes(object.kind) ? mappers : openers;
  object.attached = item.stats ? (scan.holders.get(fileKey(item.stats)) ?? []) : [];
  if (CREATED_KINDS.includes(object.kind)) {
    if (object.creatorPid !== null) object.creatorAlive = await isAlive(object.creatorPid, item.changedMs);
  }
  if (object.attached.length > 0 || maybeHidden(scan, object)) return;
  const verb = SHM_BACKED_KINDS.includes(object.kind) ? 'maps it' : 'has it open';
  if (CREATED_KINDS.includes(object.kind)) {
    if (object.creatorAlive === true) return;
    const creator = object.creatorPid === null ? 'its creator is unknown' : `its creator ${object.creatorPid} exited`;
    set(`no process ${verb}; ${creator}`);
  } else if (object.kind === 'posix-mq') {
    if (object.size === 0) set(`empty and no process ${verb}`);
  } else {
    set(`no process ${verb}`);
  }
}

function hiddenNote(scan: ProcScan, what: string): string | undefined {
  const uids = [...scan.hidden].filter((uid) => uid !== 0);
  if (uids.length === 0) return undefined;
  const names = uids.map(userName).join(', ');
  return `The ${what} of processes of ${names} could not be read: objects they might use are not marked stale.`;
}

/** Lists every object, with remarks on what could not be listed. */
export async function scanInventory(options?: ListOptions): Promise<Inventory> {
  const kinds = options?.kinds ? new Set<IpcKind>(options.kinds) : undefined;
  const match = options?.match;
  const notes: string[] = [];
  const now = Date.now();
  const want = (...of: IpcKind[]) => !kinds || of.some((kind) => kinds.has(kind));
  if (options?.pruneFifoRegistry && want('fifo')) pruneFifoRegistry();
  const [shm, posix, sysv, fifo] = await Promise.all([
    want(...SHM_BACKED_KINDS) ? shmObjects(now, notes) : [],
    want('posix-mq') ? posixQueues(now, notes) : [],
    want('sysv-mq') ? sysvQueues(now, notes) : [],
    want('fifo') ? fifos(now, notes) : [],
  ]);
  const drafts = [...shm, ...posix, ...sysv, ...fifo].filter(
    ({ object }) => (!kinds || kinds.has(object.kind)) && (match === undefined || object.name.includes(match)),
  );
  const stats = (of: (kind: IpcKind) => boolean) =>
    drafts.filter((item) => item.stats && of(item.object.kind)).map((item) => item.stats as BigIntStats);
  const [mappers, openers] = await Promise.all([
    scanMappers(stats((kind) => SHM_BACKED_KINDS.includes(kind))),
    scanOpenFiles(stats((kind) => kind === 'fifo' || kind === 'posix-mq')),
  ]);
  for (const note of [hiddenNote(mappers, 'memory maps'), hiddenNote(openers, 'open files')]) {
    if (note) notes.push(note);
  }
  await Promise.all(drafts.map((item) => judge(item, mappers, openers)));
  const order = (kind: IpcKind) => IPC_KINDS.indexOf(kind);
  const objects = drafts
    .map((item) => item.object)
    .sort((a, b) => order(a.kind) - order(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { objects, notes };
}
