/**
 * POSIX shared memory: shm_open(3), ftruncate(2), mmap(2), shm_unlink(3).
 * See {@link SharedMemory}.
 */
import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import type { OpenMode } from '../core/binding.js';
import { binding } from '../core/binding.js';
import {
  ClosedError,
  codedError,
  rangeError,
  systemError,
  useAfterClose,
  valueError,
  withObjectName,
} from '../core/errors.js';
import { isMapping, registerMapping, waitsOn } from '../core/mappings.js';
import { NAME_MAX, posixName } from '../core/names.js';
import { validateBoolean, validateInteger, validateMode, validateOptions } from '../core/validate.js';

export interface SharedMemoryCreateOptions {
  /** Size of the segment in bytes (>= 1). */
  size: number;
  /** Permission bits for a new segment (default 0o600), masked by the umask as in open(2). */
  mode?: number;
}

export interface SharedMemoryOpenOptions {
  /**
   * Open O_RDONLY (default false). The mapping is then private and
   * copy-on-write: writes through `buffer` stay in this process and never
   * reach the segment.
   */
  readOnly?: boolean;
}

/** What fstat(2) says of the segment. */
export interface SharedMemoryStat {
  /** Size in bytes. */
  size: number;
  /** Permission bits, e.g. 0o600. */
  mode: number;
  uid: number;
  gid: number;
}

/** Which bytes of the segment {@link SharedMemory.map} maps. */
export interface SharedMemoryWindow {
  /** First byte, from the segment's start; a multiple of {@link SharedMemory.pageSize}. */
  offset: number;
  /** Bytes to map (>= 1, at most `buffer.constants.MAX_LENGTH`, and offset + length <= size). */
  length: number;
}

// A window from map(), and the end (offset + length) of its range in bytes.
interface WindowEntry {
  ref: WeakRef<ArrayBuffer>;
  end: number;
}

const MAX_SIZE = Number.MAX_SAFE_INTEGER;

// The longest ArrayBuffer Node makes over external memory: Node 20 refuses
// more than buffer.constants.MAX_LENGTH (2^32 bytes on 64-bit), newer Nodes
// allow more. A longer segment is reached through windows (map()).
const MAX_BUFFER = bufferConstants.MAX_LENGTH;

// sysconf(_SC_PAGESIZE), in bytes: mmap(2) offsets are multiples of it.
const PAGE_SIZE = binding.shm.pageSize();

// Closes the descriptor of a handle that was garbage-collected unclosed.
// Natively: fs.closeSync inside a Worker warns about a descriptor fs did not open.
const fdCloser = new FinalizationRegistry<number>((fd) => {
  try {
    binding.shm.close(fd, '(collected SharedMemory)');
  } catch {
    // already closed: nothing to release
  }
});

function validateSize(value: unknown, argName = 'size'): number {
  return validateInteger(value, argName, 1, MAX_SIZE);
}

/** The error of `shm.buffer` on a segment longer than one ArrayBuffer can be. */
function tooLargeError(name: string, size: number): RangeError & { code: string } {
  return codedError(
    'ERR_SHMKIT_TOO_LARGE',
    `SharedMemory '${name}' is ${size} bytes, more than one ArrayBuffer can hold on this Node ` +
      `(buffer.constants.MAX_LENGTH = ${MAX_BUFFER}): use shm.map({ offset, length }) to map a window of it`,
    RangeError,
  );
}

/**
 * A POSIX shared-memory segment (shm_open(3), shm_overview(7)): a named
 * object in /dev/shm that any process can map, sized in bytes. Its contents
 * are reached through exactly one ArrayBuffer per mapping
 * ({@link SharedMemory.buffer}); make every view from it. Create with
 * {@link SharedMemory.create} / {@link SharedMemory.open} /
 * {@link SharedMemory.openOrCreate}; close() unmaps this process's handle,
 * unlink() removes the name.
 *
 * A segment longer than one ArrayBuffer can be on this Node (more than
 * `buffer.constants.MAX_LENGTH` bytes: 4 GiB on Node 20) is not mapped whole:
 * its `buffer` throws `ERR_SHMKIT_TOO_LARGE`, and {@link SharedMemory.map}
 * maps windows of it. Any segment may be read through windows.
 *
 * Errors: system errors carry `code` (`EEXIST`, `ENOENT`, `EACCES`, …),
 * `errno`, `syscall` and `objectName` (the segment's name); a method called
 * after close() throws a `ClosedError` (`ERR_SHMKIT_CLOSED`); bad arguments
 * throw TypeError/RangeError before any system call.
 */
export class SharedMemory implements Disposable {
  /** The POSIX name, with its leading '/'. */
  readonly name: string;
  /** Whether this handle was opened read-only. */
  readonly readOnly: boolean;
  /** Whether this call created the segment (false when it opened an existing one). */
  readonly created: boolean;
  #fd: number;
  #size: number;
  // null when the segment is too long for one ArrayBuffer
  #buffer: ArrayBuffer | null;
  // Windows from map(), each with the end (offset + length) of its range.
  // Held weakly: a window dropped by its user is unmapped when collected.
  readonly #windows = new Set<WindowEntry>();
  // windows unmapped before close(), so a second unmap() of one does nothing
  readonly #unmapped = new WeakSet<ArrayBuffer>();

  private constructor(
    name: string,
    fd: number,
    readOnly: boolean,
    created: boolean,
    size: number,
    buffer: ArrayBuffer | null,
  ) {
    this.name = name;
    this.#fd = fd;
    this.readOnly = readOnly;
    this.created = created;
    this.#size = size;
    this.#buffer = buffer;
    fdCloser.register(this, fd, this);
  }

  /** The page size in bytes (sysconf(3) _SC_PAGESIZE): window offsets are multiples of it. */
  static get pageSize(): number {
    return PAGE_SIZE;
  }

  /**
   * Creates a new segment of `size` bytes, filled with zeros.
   * @throws `EEXIST` if a segment of that name exists; `EACCES`, `EMFILE`, `ENOSPC` from shm_open(3)/ftruncate(2).
   * @throws TypeError/RangeError for a bad name, size or mode.
   */
  static create(name: string, options: SharedMemoryCreateOptions): SharedMemory {
    const opts = validateOptions(options);
    const size = validateSize(opts.size, 'options.size');
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const fullName = posixName(name, 'name', NAME_MAX);
    return SharedMemory.#open(fullName, 'create', false, mode, size);
  }

  /**
   * Opens an existing segment; its size comes from fstat(2).
   * @throws `ENOENT` if there is none; `EACCES` if its mode forbids it.
   */
  static open(name: string, options?: SharedMemoryOpenOptions): SharedMemory {
    const opts = validateOptions(options);
    const readOnly = opts.readOnly === undefined ? false : validateBoolean(opts.readOnly, 'options.readOnly');
    const fullName = posixName(name, 'name', NAME_MAX);
    return SharedMemory.#open(fullName, 'open', readOnly, 0, undefined);
  }

  /**
   * Opens the segment, creating it with `size` bytes if it does not exist.
   * An existing segment keeps its own size (see {@link SharedMemory.size}).
   */
  static openOrCreate(name: string, options: SharedMemoryCreateOptions): SharedMemory {
    const opts = validateOptions(options);
    const size = validateSize(opts.size, 'options.size');
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const fullName = posixName(name, 'name', NAME_MAX);
    return SharedMemory.#open(fullName, 'openOrCreate', false, mode, size);
  }

  /**
   * Removes the name (shm_unlink(3)); mappings that exist stay valid until closed.
   * @throws `ENOENT` if there is no such segment.
   */
  static unlink(name: string): void {
    const fullName = posixName(name, 'name', NAME_MAX);
    binding.shm.unlink(fullName);
  }

  static #open(name: string, openMode: OpenMode, readOnly: boolean, mode: number, size: number | undefined) {
    const { fd, created } = binding.shm.open(name, openMode, mode, readOnly);
    try {
      let actual = withObjectName(name, () => fs.fstatSync(fd).size);
      // A segment just made by a racing openOrCreate may not be sized yet.
      if (size !== undefined && (created || actual === 0)) {
        withObjectName(name, () => fs.ftruncateSync(fd, size));
        actual = size;
      }
      const buffer = SharedMemory.#mapWhole(fd, actual, readOnly, name);
      return new SharedMemory(name, fd, readOnly, created, actual, buffer);
    } catch (error) {
      binding.shm.close(fd, name);
      if (created) SharedMemory.#unlinkQuietly(name); // ours and half-made: leave nothing behind
      throw error;
    }
  }

  static #unlinkQuietly(name: string): void {
    try {
      binding.shm.unlink(name);
    } catch {
      // someone else removed it already
    }
  }

  // The mapping of the whole segment, or null if it is longer than one
  // ArrayBuffer can be (then only windows reach it).
  static #mapWhole(fd: number, size: number, readOnly: boolean, name: string): ArrayBuffer | null {
    if (size === 0) return new ArrayBuffer(0);
    if (size > MAX_BUFFER) return null;
    const buffer = binding.shm.map(fd, size, readOnly, name);
    registerMapping(buffer);
    return buffer;
  }

  /**
   * The one ArrayBuffer over the whole mapping. Make every view from it;
   * after close() or resize() it is detached (length 0).
   * @throws `ERR_SHMKIT_CLOSED` after close().
   * @throws RangeError `ERR_SHMKIT_TOO_LARGE` if the segment is longer than
   *   `buffer.constants.MAX_LENGTH` bytes (4 GiB on Node 20): use {@link SharedMemory.map}.
   */
  get buffer(): ArrayBuffer {
    this.#check();
    if (this.#buffer === null) throw tooLargeError(this.name, this.#size);
    return this.#buffer;
  }

  /** Size of the segment as this handle mapped it, in bytes (also when only windows reach it). */
  get size(): number {
    this.#check();
    return this.#size;
  }

  /**
   * Maps bytes [offset, offset + length) of the segment (mmap(2) at that
   * file offset) and returns an ArrayBuffer over that window alone: byte 0
   * of the result is byte `offset` of the segment. Each call makes a new
   * mapping of its own (several windows, even overlapping ones, may live at
   * once); all are unmapped, their views detached and their pending futex
   * waits rejected with `ERR_SHMKIT_CLOSED` when the handle closes (or
   * earlier by {@link SharedMemory.unmap}, or when it is garbage-collected). A window
   * works with Atomics and `futex.wait`/`futex.wake` like `buffer`. On a read-only handle
   * the window is private and copy-on-write, like `buffer`.
   * @param window.offset in bytes, a multiple of {@link SharedMemory.pageSize}.
   * @param window.length in bytes, >= 1 and at most `buffer.constants.MAX_LENGTH`.
   * @throws RangeError `ERR_OUT_OF_RANGE` naming `options.offset` (negative, not an
   *   integer or not page-aligned) or `options.length` (< 1, too long, or past the segment's end).
   * @throws `ERR_SHMKIT_CLOSED` after close(); `ENOMEM` and others from mmap(2).
   */
  map(window: SharedMemoryWindow): ArrayBuffer {
    this.#check();
    const opts = validateOptions(window);
    const page = PAGE_SIZE;
    const offset = validateInteger(opts.offset, 'options.offset', 0, MAX_SIZE);
    if (offset % page !== 0) {
      throw rangeError('options.offset', `a multiple of the page size (${page} bytes)`, offset);
    }
    const length = validateInteger(opts.length, 'options.length', 1, MAX_BUFFER);
    if (offset + length > this.#size) {
      throw rangeError(
        'options.length',
        `at most ${this.#size - offset} bytes (offset + length <= the segment's ${this.#size} bytes)`,
        length,
      );
    }
    const buffer = binding.shm.map(this.#fd, length, this.readOnly, this.name, offset);
    registerMapping(buffer);
    for (const entry of this.#windows) if (entry.ref.deref() === undefined) this.#windows.delete(entry);
    this.#windows.add({ ref: new WeakRef(buffer), end: offset + length });
    return buffer;
  }

  /**
   * Unmaps one window from {@link SharedMemory.map} now, rather than at
   * close() or garbage collection: its views detach and its pending futex
   * waits reject with `ERR_SHMKIT_CLOSED`. Unmapping a window twice does nothing.
   * @throws TypeError `ERR_INVALID_ARG_VALUE` if `window` is not a window of this handle.
   */
  unmap(window: ArrayBuffer): void {
    this.#check();
    for (const entry of this.#windows) {
      if (entry.ref.deref() === window) {
        this.#releaseWindow(entry, new ClosedError(`SharedMemory '${this.name}' (window unmapped)`));
        return;
      }
    }
    if (window instanceof ArrayBuffer && this.#unmapped.has(window)) return;
    throw valueError('window', "must be an ArrayBuffer returned by this handle's map()", window);
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** fstat(2) of the segment: its size (which another process may have changed), mode, owner. */
  stat(): SharedMemoryStat {
    this.#check();
    const stats = withObjectName(this.name, () => fs.fstatSync(this.#fd));
    return { size: stats.size, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
  }

  /**
   * Changes the segment's size (ftruncate(2)) and maps it anew. The old
   * buffer and every view of it are detached: take `buffer` again.
   * Other processes keep their old mapping; if the segment shrinks under
   * them, touching pages past its new end raises SIGBUS there.
   * @throws `EBADF` on a read-only handle.
   */
  resize(size: number): void {
    this.#check();
    const bytes = validateSize(size);
    if (this.readOnly) {
      throw systemError('EBADF', 'ftruncate', this.name, 'cannot resize a read-only handle');
    }
    withObjectName(this.name, () => fs.ftruncateSync(this.#fd, bytes));
    const old = this.#buffer;
    this.#buffer = SharedMemory.#mapWhole(this.#fd, bytes, false, this.name);
    this.#size = bytes; // only once the new mapping exists: a failed map leaves the handle as it was
    // Waits on the old views would otherwise outlive close() unseen.
    const resized = new ClosedError(`SharedMemory '${this.name}' (resized)`);
    if (old !== null) SharedMemory.#release(old, resized);
    // A window past the new end would raise SIGBUS when touched: it goes.
    for (const entry of this.#windows) {
      if (entry.end > bytes) this.#releaseWindow(entry, resized);
    }
  }

  /**
   * Unmaps and closes this handle; safe to call twice. Views of `buffer`
   * detach, so no later access can touch unmapped memory; futex waits pending
   * on it reject with `ERR_SHMKIT_CLOSED`. The segment itself stays (see unlink()).
   */
  close(): void {
    if (this.#fd < 0) return;
    const closed = new ClosedError(`SharedMemory '${this.name}'`);
    if (this.#buffer !== null) SharedMemory.#release(this.#buffer, closed);
    for (const entry of this.#windows) this.#releaseWindow(entry, closed);
    fdCloser.unregister(this);
    // Natively, not fs.closeSync: inside a Worker, fs warns about closing a
    // descriptor it did not open there.
    binding.shm.close(this.#fd, this.name);
    this.#fd = -1;
  }

  // Rejects the waits pending on a mapping and detaches it.
  static #release(buffer: ArrayBuffer, reason: ClosedError): void {
    waitsOn(buffer).rejectAll(reason);
    if (isMapping(buffer)) binding.shm.unmap(buffer);
  }

  #releaseWindow(entry: WindowEntry, reason: ClosedError): void {
    this.#windows.delete(entry);
    const window = entry.ref.deref();
    if (window === undefined) return; // collected: its finalizer unmapped it
    this.#unmapped.add(window);
    SharedMemory.#release(window, reason);
  }

  /** Removes the segment's name (shm_unlink(3)); this handle stays usable until closed. */
  unlink(): void {
    SharedMemory.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(): void {
    if (this.#fd < 0) throw useAfterClose(`SharedMemory '${this.name}'`);
  }
}
