/**
 * What the System V objects (message queues, shared memory, semaphore sets)
 * share: the IPC_PRIVATE key, key checks, and reporting an object removed by
 * any process as `EIDRM` (see sysvipc(7)).
 */
import { type SystemError, systemError } from '../core/errors.js';
import { rangeError, typeError } from '../core/validate.js';

/** The key that asks for a new object with no key (reachable by its id only). */
export const IPC_PRIVATE = 0;

/** The largest id the kernel hands out (an int). */
export const SYSV_ID_MAX = 2147483647;

/** A key_t: an integer from -2^31 to 2^32 - 1 (ftok's keys are unsigned), as the signed int the kernel keeps. */
export function validateKey(value: unknown, name: string): number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!Number.isInteger(value) || value < -2147483648 || value > 0xffffffff) {
    throw rangeError(name, 'an integer key_t (-2147483648 to 4294967295)', value);
  }
  return value | 0;
}

/** A non-zero key: open() cannot find an IPC_PRIVATE object by key. */
export function validateOpenKey(value: unknown, name: string): number {
  const key = validateKey(value, name);
  if (key === IPC_PRIVATE) {
    throw rangeError(name, 'a non-zero key (IPC_PRIVATE objects are reached by id: use fromId())', key);
  }
  return key;
}

/** Seconds since the epoch (as IPC_STAT gives them) in ms, 0 staying 0 ("never"). */
export function secondsToMs(seconds: number): number {
  return seconds * 1000;
}

/**
 * An error of a call on object `objectName` in user terms: the kernel says
 * EIDRM when the object is removed during a blocking call, and EINVAL for an
 * id that no longer names one; both become `EIDRM` (the kernel's error as
 * `cause`) when `gone()` confirms it. Other errors pass through.
 */
export function explainRemoved(error: unknown, objectName: string, gone: () => boolean, what: string): unknown {
  const { code, syscall } = error as Partial<SystemError>;
  if (syscall === undefined || !(code === 'EIDRM' || (code === 'EINVAL' && gone()))) return error;
  const detail = `the ${what} was removed (no ${what} has this id any more): open or create it again`;
  return systemError('EIDRM', syscall, objectName, detail, { cause: error });
}

/** Whether `stat` fails because nothing has this id any more (EINVAL or EIDRM). */
export function isGone(stat: () => unknown): boolean {
  try {
    stat();
    return false;
  } catch (error) {
    const { code } = error as Partial<SystemError>;
    return code === 'EINVAL' || code === 'EIDRM';
  }
}
