/**
 * One error model for every primitive.
 *
 * - A failed system call throws a {@link SystemError}: an `Error` with `code`
 *   ('ENOENT', 'EEXIST', 'EACCES', 'EAGAIN', …), `errno` (negative, as in
 *   Node's `fs`: `util.getSystemErrorName(err.errno)` gives the code back) and
 *   `syscall` ('shm_open', 'sem_open', …), the object's name in the message.
 * - A wait that runs out of time throws/rejects with `code: 'ETIMEDOUT'`.
 * - An aborted wait rejects with an {@link AbortError} (`name: 'AbortError'`,
 *   `code: 'ABORT_ERR'`, the signal's reason as `cause`), as Node's own APIs do.
 * - A wait still pending when its handle is closed rejects with
 *   `code: 'ERR_SHMKIT_CLOSED'`.
 * - Wrong arguments throw `TypeError`/`RangeError` with
 *   `code: 'ERR_INVALID_ARG_TYPE'`/`'ERR_OUT_OF_RANGE'`/`'ERR_INVALID_ARG_VALUE'`
 *   before any system call.
 */
import os from 'node:os';

/** The shape of an error from a failed system call. */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

/** Builds a Node-shaped system error, e.g. `systemError('ETIMEDOUT', 'sem_timedwait', '/jobs')`. */
export function systemError(code: string, syscall: string, subject: string, detail?: string): SystemError {
  const number = (os.constants.errno as Record<string, number>)[code] ?? 0;
  const text = detail ?? code;
  const error = new Error(`${code}: ${text}, ${syscall} '${subject}'`) as SystemError;
  error.code = code;
  error.errno = -number;
  error.syscall = syscall;
  return error;
}

/** The error of a wait whose `timeoutMs` ran out. */
export function timeoutError(syscall: string, subject: string, timeoutMs: number): SystemError {
  return systemError('ETIMEDOUT', syscall, subject, `timed out after ${timeoutMs} ms`);
}

/** Rejects an aborted wait, like Node's own AbortError. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  override name = 'AbortError';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Rejects a wait still pending when its handle was closed. */
export class ClosedError extends Error {
  readonly code = 'ERR_SHMKIT_CLOSED';
  constructor(what: string) {
    super(`${what} was closed while a wait was pending`);
  }
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

/** Thrown when a handle is used after close(). */
export function useAfterClose(what: string): Error & { code: string } {
  return codedError('ERR_SHMKIT_CLOSED', `${what} is closed`);
}
