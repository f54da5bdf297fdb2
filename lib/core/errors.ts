/**
 * One error model for every primitive, and the one place that builds errors.
 *
 * - A failed system call throws a {@link SystemError}: an `Error` with `code`
 *   ('ENOENT', 'EEXIST', 'EACCES', 'EAGAIN', …), `errno` (negative, as in
 *   Node's `fs`: `util.getSystemErrorName(err.errno)` gives the code back for
 *   the codes libuv knows, which EIDRM and ENOMSG are not),
 *   `syscall` ('shm_open', 'sem_open', …) and `objectName`, the name of the
 *   object the call was about ('/jobs', a FIFO's path, 'msqid 42'), which the
 *   message repeats. `objectName` plays the part of fs's `path` (not every
 *   object is a file) without clashing with `Error#name`.
 * - A wait that runs out of time throws/rejects with `code: 'ETIMEDOUT'`.
 * - An aborted wait rejects with an {@link AbortError} (`name: 'AbortError'`,
 *   `code: 'ABORT_ERR'`, the signal's reason as `cause`), as Node's own APIs do.
 * - A handle used after close(), and a wait still pending when its handle is
 *   closed, throw/reject with a {@link ClosedError} (`code: 'ERR_SHMKIT_CLOSED'`).
 * - Wrong arguments throw `TypeError`/`RangeError` with
 *   `code: 'ERR_INVALID_ARG_TYPE'`/`'ERR_OUT_OF_RANGE'`/`'ERR_INVALID_ARG_VALUE'`
 *   before any system call, naming the argument, what was expected and what was given.
 * - A primitive the platform lacks throws `code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM'`.
 * - shmkit's own conditions carry an `ERR_SHMKIT_…` code ({@link codedError}); loading
 *   shmkit with no native binary that loads throws `ERR_SHMKIT_NO_BINARY` ({@link noBinaryError}).
 */
import os from 'node:os';

/** The shape of an error from a failed system call. */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  /**
   * The object the call was about, as the message names it: a POSIX name
   * ('/jobs'), a FIFO's path, or 'msqid 42' / 'key 0x…' for a System V queue.
   */
  objectName?: string;
}

/**
 * Builds a Node-shaped system error, e.g. `systemError('ETIMEDOUT', 'sem_timedwait', '/jobs')`:
 * message `"ETIMEDOUT: <detail>, sem_timedwait '/jobs'"`, `errno` from `code`.
 */
export function systemError(
  code: string,
  syscall: string,
  objectName: string,
  detail?: string,
  options?: ErrorOptions,
): SystemError {
  const number = (os.constants.errno as Record<string, number>)[code] ?? 0;
  const text = detail ?? code;
  const error = new Error(`${code}: ${text}, ${syscall} '${objectName}'`, options) as SystemError;
  error.code = code;
  error.errno = -number;
  error.syscall = syscall;
  error.objectName = objectName;
  return error;
}

/** The error of a wait whose `timeoutMs` ran out. */
export function timeoutError(syscall: string, objectName: string, timeoutMs: number): SystemError {
  return systemError('ETIMEDOUT', syscall, objectName, `timed out after ${timeoutMs} ms`);
}

function isSystemError(error: unknown): error is SystemError {
  return error instanceof Error && typeof (error as Partial<SystemError>).syscall === 'string';
}

/**
 * Gives a system error from the addon or from `fs` (which know the syscall but
 * not always the object) its `objectName`, and the name in its message.
 * Anything else passes through unchanged.
 */
export function nameSystemError(error: unknown, objectName: string): unknown {
  if (!isSystemError(error) || error.objectName !== undefined) return error;
  error.objectName = objectName;
  if (!error.message.includes(`'${objectName}'`)) error.message += ` '${objectName}'`;
  return error;
}

/** Runs `run`; a system error it throws gets `objectName` (see {@link nameSystemError}). */
export function withObjectName<T>(objectName: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw nameSystemError(error, objectName);
  }
}

/** Rejects an aborted wait, like Node's own AbortError. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  override name = 'AbortError';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A handle was closed: thrown by any method called after close(), and the
 * rejection of a wait still pending when close() was called. Catch it with
 * `instanceof ClosedError` or by `code: 'ERR_SHMKIT_CLOSED'`. Closing only
 * releases this process's handle: open the object again to keep using it.
 */
export class ClosedError extends Error {
  readonly code = 'ERR_SHMKIT_CLOSED';
  override name = 'ClosedError';
  /**
   * @param what the handle, e.g. "Semaphore '/jobs'".
   * @param message the whole message (default: a wait was pending on `what` when it was closed).
   */
  constructor(what: string, message = `${what} was closed while a wait was pending`) {
    super(message);
  }
}

/** The ClosedError of a handle used after close(). */
export function useAfterClose(what: string): ClosedError {
  return new ClosedError(what, `${what} is closed: open it again to use it`);
}

/** An error of shmkit's own with a Node-style `code` (ERR_SHMKIT_…, ERR_OUT_OF_RANGE, …). */
export function codedError<E extends Error = Error>(
  code: string,
  message: string,
  Kind: new (message: string) => E = Error as unknown as new (
    message: string,
  ) => E,
): E & { code: string } {
  return Object.assign(new Kind(message), { code });
}

/**
 * Something this platform or host does not offer, e.g.
 * `unsupportedError('futex(2) is not available on darwin.')`.
 */
export function unsupportedError(message: string): Error & { code: string } {
  return codedError('ERR_FEATURE_UNAVAILABLE_ON_PLATFORM', message);
}

/** Where installing shmkit (prebuilds, building from source) is explained. */
export const INSTALL_DOCS = 'https://github.com/shmkit/shmkit/blob/main/docs/install.md';

/**
 * No native binary loads: none fits `target` (e.g. 'linux-arm64 (glibc)') and none
 * was built at install, or the one found (`failed`, the loader's first line) does
 * not load. Code ERR_SHMKIT_NO_BINARY; the loader's error is the `cause`.
 */
export function noBinaryError(target: string, failed?: string, options?: ErrorOptions): Error & { code: string } {
  const what = failed
    ? `shmkit's native binary does not load on ${target} (${failed})`
    : `shmkit has no native binary for ${target}: no prebuilt one fits and none was built at install`;
  const todo =
    'install cmake, make and a C++ compiler (apt-get install cmake g++ make) and run `npm rebuild shmkit --build-from-source`';
  const error = new Error(`${what}; ${todo}. See ${INSTALL_DOCS}`, options);
  return Object.assign(error, { code: 'ERR_SHMKIT_NO_BINARY' });
}

// Argument errors: thrown before any system call, Node-shaped.

/** How an argument error shows what it was given: its type and, if short, its value. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `string '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`;
  }
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return typeof value;
}

/** `name` has the wrong type: `TypeError`, code ERR_INVALID_ARG_TYPE. */
export function typeError(name: string, expected: string, value: unknown): TypeError & { code: string } {
  return codedError(
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" argument must be ${expected}. Received ${describe(value)}`,
    TypeError,
  );
}

/** `name` is out of range: `RangeError`, code ERR_OUT_OF_RANGE. */
export function rangeError(name: string, expected: string, value: unknown): RangeError & { code: string } {
  return codedError(
    'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${expected}. Received ${describe(value)}`,
    RangeError,
  );
}

/** `name` has the right type but a value that cannot be used: `TypeError`, code ERR_INVALID_ARG_VALUE. */
export function valueError(name: string, reason: string, value: unknown): TypeError & { code: string } {
  return codedError(
    'ERR_INVALID_ARG_VALUE',
    `The argument "${name}" ${reason}. Received ${describe(value)}`,
    TypeError,
  );
}
