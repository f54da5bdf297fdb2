/**
 * POSIX shared memory: shm_open(3), ftruncate(2), mmap(2), shm_unlink(3).
 * See {@link SharedMemory}.
 */
import fs from 'node:fs';
import type { OpenMode } from '../core/binding.js';
import { binding } from '../core/binding.js';
import { ClosedError, systemError, useAfterClose, withObjectName } from '../core/errors.js';
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

const MAX_SIZE = Number.MAX_SAFE_INTEGER;

// Closes the descriptor of a handle that was garbage-collected unclosed.
const fdCloser = new FinalizationRegistry<number>((fd) => {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
});

function validateSize(value: unknown, argName = 'size'): number {
  return validateInteger(value, argName, 1, MAX_SIZE);
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
  #buffer: ArrayBuffer;

  private constructor(name: string, fd: number, readOnly: boolean, created: boolean, buffer: ArrayBuffer) {
    this.name = name;
    this.#fd = fd;
    this.readOnly = readOnly;
    this.created = created;
    this.#buffer = buffer;
    fdCloser.register(this, fd, this);
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
      return new SharedMemory(name, fd, readOnly, created, SharedMemory.#map(fd, actual, readOnly, name));
    } catch (error) {
      fs.closeSync(fd);
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

  static #map(fd: number, size: number, readOnly: boolean, name: string): ArrayBuffer {
    if (size === 0) return new ArrayBuffer(0);
    const buffer = binding.shm.map(fd, size, readOnly, name);
    registerMapping(buffer);
    return buffer;
  }

  /**
   * The one ArrayBuffer over the whole mapping. Make every view from it;
   * after close() or resize() it is detached (length 0).
   * @throws `ERR_SHMKIT_CLOSED` after close().
   */
  get buffer(): ArrayBuffer {
    this.#check();
    return this.#buffer;
  }

  /** Size of the mapping in bytes. */
  get size(): number {
    this.#check();
    return this.#buffer.byteLength;
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
    this.#buffer = SharedMemory.#map(this.#fd, bytes, false, this.name);
    // Waits on the old views would otherwise outlive close() unseen.
    waitsOn(old).rejectAll(new ClosedError(`SharedMemory '${this.name}' (resized)`));
    if (isMapping(old)) binding.shm.unmap(old);
  }

  /**
   * Unmaps and closes this handle; safe to call twice. Views of `buffer`
   * detach, so no later access can touch unmapped memory; futex waits pending
   * on it reject with `ERR_SHMKIT_CLOSED`. The segment itself stays (see unlink()).
   */
  close(): void {
    if (this.#fd < 0) return;
    waitsOn(this.#buffer).rejectAll(new ClosedError(`SharedMemory '${this.name}'`));
    if (isMapping(this.#buffer)) binding.shm.unmap(this.#buffer);
    fdCloser.unregister(this);
    fs.closeSync(this.#fd);
    this.#fd = -1;
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
