/**
 * System V shared memory: shmget(2), shmat(2), shmdt(2), shmctl(2). See
 * {@link SysvSharedMemory}.
 */
import { binding, type NativeSysvShmStat, requireCapability } from '../core/binding.js';
import { ClosedError, codedError, useAfterClose } from '../core/errors.js';
import { isMapping, registerMapping, waitsOn } from '../core/mappings.js';
import { typeError, validateBoolean, validateInteger, validateMode, validateOptions } from '../core/validate.js';
import {
  explainRemoved,
  IPC_PRIVATE,
  isGone,
  SYSV_ID_MAX,
  secondsToMs,
  validateKey,
  validateOpenKey,
} from './sysv-ipc.js';

function requireSysvShm(): void {
  requireCapability('sysvShm', 'System V shared memory is');
}

export interface SysvSharedMemoryCreateOptions {
  /** The segment's size in bytes (shm_segsz), at least 1; kernel.shmmax bounds it. */
  size: number;
  /** Permission bits (default 0o600). */
  mode?: number;
}

export interface SysvAttachOptions {
  /**
   * Only `false` (the default): a read-only attach is refused with
   * `ERR_SHMKIT_UNSUPPORTED`. shmat(2) with SHM_RDONLY maps the pages
   * PROT_READ, and System V has no private copy-on-write attach (as a
   * read-only {@link SharedMemory} has), so a write through an ArrayBuffer
   * view — which JavaScript cannot forbid — would kill the process with
   * SIGSEGV. Nothing JS can pass may crash the process.
   */
  readOnly?: boolean;
}

/** What shmctl(2) IPC_STAT says of a segment. Times are ms since the epoch, 0 for "never". */
export interface SysvSharedMemoryStat {
  /** The segment's id (shmid), as `ipcs -m` shows it. */
  id: number;
  /** Its key (0 once removed: the kernel turns the key of a removed segment into IPC_PRIVATE). */
  key: number;
  /** Size in bytes (shm_segsz). */
  size: number;
  /** How many attachments exist, in every process (shm_nattch). */
  nattch: number;
  /** Pid of the creator (shm_cpid). */
  cpid: number;
  /** Pid of the last shmat/shmdt (shm_lpid). */
  lpid: number;
  /** Last attach, last detach and last change (creation, IPC_SET, IPC_RMID), in ms since the epoch. */
  atime: number;
  dtime: number;
  ctime: number;
  /** Permission bits. */
  mode: number;
  /** Removed (IPC_RMID) but still attached somewhere: `ipcs -m` shows it as "dest". */
  removed: boolean;
  /** Owner's and creator's uid and gid. */
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
}

function toStat(id: number, raw: NativeSysvShmStat): SysvSharedMemoryStat {
  return {
    id,
    key: raw.key,
    size: raw.size,
    nattch: raw.nattch,
    cpid: raw.cpid,
    lpid: raw.lpid,
    atime: secondsToMs(raw.atime),
    dtime: secondsToMs(raw.dtime),
    ctime: secondsToMs(raw.ctime),
    mode: raw.mode,
    removed: raw.removed,
    uid: raw.uid,
    gid: raw.gid,
    cuid: raw.cuid,
    cgid: raw.cgid,
  };
}

/**
 * A System V shared memory segment (shmget(2), sysvipc(7)), named by a
 * numeric key (often from `ftok`) or private to its id ({@link IPC_PRIVATE}).
 * A segment lives until it is removed (`ipcs -m` lists it) and, once removed,
 * until its last attachment in any process is gone: the kernel's rule, which
 * `stat().removed` and `ipcs -m` ("dest") show.
 *
 * {@link SysvSharedMemory.attach} maps the segment (shmat(2)) and gives the
 * one ArrayBuffer over it: Atomics on views of it are atomic across
 * processes, and `futex.wait`/`futex.wake` work on it, as on a
 * {@link SharedMemory} mapping. One attachment per handle; open another
 * handle for a second one. {@link SysvSharedMemory.detach} (and close())
 * detaches the buffer (its views read as empty), rejects futex waits pending
 * on it with a `ClosedError`, and drops the attachment: `nattch` falls at once.
 *
 * Errors: system errors carry `code`, `errno`, `syscall` and `objectName`
 * ('shmid 42', or 'key 0x…' from shmget). A segment removed and gone is
 * reported as `EIDRM` even where the kernel says EINVAL. Bad arguments throw
 * TypeError/RangeError before any system call; a method called after
 * close() throws a `ClosedError`.
 */
export class SysvSharedMemory implements Disposable {
  /** The kernel's segment id (shmid), as `ipcs -m` shows it. */
  readonly id: number;
  /** The key it was created or opened with (0 for IPC_PRIVATE or {@link SysvSharedMemory.fromId}). */
  readonly key: number;
  /** Whether this call created the segment. */
  readonly created: boolean;
  #buffer: ArrayBuffer | null = null;
  #closed = false;

  private constructor(id: number, key: number, created: boolean) {
    this.id = id;
    this.key = key;
    this.created = created;
  }

  /**
   * Creates a segment of `size` bytes, zero-filled (shmget(2) with
   * IPC_CREAT|IPC_EXCL, or IPC_PRIVATE for a segment with no key).
   * @param key a key_t (say, from `ftok`), or {@link IPC_PRIVATE}.
   * @throws `EEXIST` if the key has a segment; `EINVAL` if `size` is above kernel.shmmax;
   *   `ENOSPC` past kernel.shmmni; `ENOMEM`.
   */
  static create(key: number, options: SysvSharedMemoryCreateOptions): SysvSharedMemory {
    requireSysvShm();
    const k = validateKey(key, 'key');
    if (options === null || typeof options !== 'object') throw typeError('options', 'an object', options);
    const size = validateInteger(options.size, 'options.size', 1, Number.MAX_SAFE_INTEGER);
    const mode = options.mode === undefined ? 0o600 : validateMode(options.mode, 'options.mode');
    const { id, created } = binding.sysvShm.get(k, k === IPC_PRIVATE ? 'private' : 'create', size, mode);
    return new SysvSharedMemory(id, k, created);
  }

  /**
   * Opens the segment of `key` (shmget(2) without IPC_CREAT).
   * @throws `ENOENT` if there is none (a removed segment has no key any more); `EACCES` if its mode forbids it.
   */
  static open(key: number): SysvSharedMemory {
    requireSysvShm();
    const k = validateOpenKey(key, 'key');
    const { id } = binding.sysvShm.get(k, 'open', 0, 0);
    return new SysvSharedMemory(id, k, false);
  }

  /**
   * Uses a segment by its id (an IPC_PRIVATE segment's id passed to a child,
   * or one `ipcs -m` shows).
   * @throws `EIDRM` if no segment has this id; `EACCES` without read permission.
   */
  static fromId(id: number): SysvSharedMemory {
    requireSysvShm();
    validateInteger(id, 'id', 0, SYSV_ID_MAX);
    const handle = new SysvSharedMemory(id, 0, false);
    handle.stat(); // fails now, not at the first attach, if there is no such segment
    return handle;
  }

  #subject(): string {
    return `shmid ${this.id}`;
  }

  #live(): number {
    if (this.#closed) throw useAfterClose(`SysvSharedMemory ${this.#subject()}`);
    return this.id;
  }

  #call<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      const id = this.id;
      throw explainRemoved(error, this.#subject(), () => isGone(() => binding.sysvShm.stat(id)), 'segment');
    }
  }

  /**
   * Attaches the segment (shmat(2)) and returns the one ArrayBuffer over all
   * of it; make every view from it. A second call returns the same buffer
   * while it is attached.
   * @throws `EACCES` if the mode forbids the access; `EIDRM` if removed and gone;
   *   `ERR_SHMKIT_UNSUPPORTED` for `readOnly: true` (see {@link SysvAttachOptions});
   *   RangeError `ERR_SHMKIT_TOO_LARGE` above `buffer.constants.MAX_LENGTH`.
   */
  attach(options?: SysvAttachOptions): ArrayBuffer {
    const id = this.#live();
    const opts = validateOptions(options);
    if (opts.readOnly !== undefined && validateBoolean(opts.readOnly, 'options.readOnly')) {
      throw codedError(
        'ERR_SHMKIT_UNSUPPORTED',
        `SysvSharedMemory ${this.#subject()}: a read-only attach (SHM_RDONLY) maps the pages PROT_READ, so a write ` +
          'through the ArrayBuffer would kill the process with SIGSEGV (System V has no copy-on-write attach); ' +
          'attach read-write, or share the memory as a SharedMemory, whose read-only open is copy-on-write',
      );
    }
    if (this.#buffer !== null) return this.#buffer;
    const buffer = this.#call(() => binding.sysvShm.attach(id));
    registerMapping(buffer);
    this.#buffer = buffer;
    return buffer;
  }

  /** The attached buffer, or null when not attached. */
  get buffer(): ArrayBuffer | null {
    return this.#buffer;
  }

  /** Whether this handle is attached. */
  get attached(): boolean {
    return this.#buffer !== null;
  }

  /**
   * Detaches (shmdt(2)): the buffer and its views detach (length 0), futex
   * waits pending on it reject with a `ClosedError`, and the kernel's
   * `nattch` drops; a removed segment goes with its last attachment. Does
   * nothing when not attached.
   */
  detach(): void {
    const buffer = this.#buffer;
    if (buffer === null) return;
    this.#buffer = null;
    waitsOn(buffer).rejectAll(new ClosedError(`SysvSharedMemory ${this.#subject()} (detached)`));
    // Native code swaps the attached pages for private zero pages (which
    // drops the attachment) so that a native reader of the old range sees
    // zeros, not SIGSEGV; see SharedMemory.close().
    if (isMapping(buffer)) binding.shm.unmap(buffer);
  }

  /**
   * The segment's state (shmctl(2) IPC_STAT).
   * @throws `EIDRM` if removed and gone; `EACCES` without read permission.
   */
  stat(): SysvSharedMemoryStat {
    const id = this.#live();
    return toStat(
      id,
      this.#call(() => binding.sysvShm.stat(id)),
    );
  }

  /** The segment's size in bytes (IPC_STAT). */
  get size(): number {
    return this.stat().size;
  }

  /**
   * Changes the permission bits (shmctl(2) IPC_SET); attachments that exist keep their access.
   * @throws `EPERM` if neither owner nor creator; `EIDRM`.
   */
  setMode(mode: number): void {
    const id = this.#live();
    const bits = validateMode(mode, 'mode');
    this.#call(() => binding.sysvShm.setMode(id, bits));
  }

  /**
   * Removes the segment (shmctl(2) IPC_RMID): its key is freed at once, and
   * the memory goes when the last attachment in any process is detached
   * (until then `stat().removed` is true). This handle stays attached.
   * @throws `EPERM` if neither owner nor creator; `EIDRM` if already gone.
   */
  remove(): void {
    const id = this.#live();
    this.#call(() => binding.sysvShm.remove(id));
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Detaches (see detach()) and forgets this handle; safe to call twice. The segment stays (see remove()). */
  close(): void {
    if (this.#closed) return;
    this.detach();
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
