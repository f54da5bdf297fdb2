/**
 * Argument checks shared by every primitive. Each throws before any system
 * call, naming the argument, what was expected and what was given; the errors
 * themselves are built in errors.ts.
 */
import { rangeError, typeError, valueError } from './errors.js';

// Re-exported: modules that validate import them from here.
export { rangeError, typeError, valueError };

// One shared, frozen {} for calls without options: a fast path allocates nothing.
const NO_OPTIONS = Object.freeze({});

/** An options bag: undefined becomes a shared frozen {}, anything but a plain object throws. */
export function validateOptions<T extends object>(value: T | undefined, name = 'options'): Partial<T> {
  if (value === undefined) return NO_OPTIONS;
  if (value === null || typeof value !== 'object') throw typeError(name, 'an object', value);
  return value;
}

export function validateInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(name, `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}

export function validateBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

/** The permission bits a `mode` may carry: rwx for owner, group and others. */
export const MODE_MAX = 0o777;

/**
 * A new object's permission bits, such as 0o600: an integer 0 to 0o777. The
 * setuid, setgid and sticky bits (0o7000) are refused, not silently applied:
 * no shmkit object has a use for them, and a FIFO would really get them.
 */
export function validateMode(value: unknown, name = 'mode'): number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!Number.isInteger(value) || value < 0 || value > MODE_MAX) {
    throw rangeError(name, 'an integer from 0 to 0o777 (permission bits only: no setuid, setgid or sticky bit)', value);
  }
  return value;
}

/**
 * The longest finite timeout, in milliseconds: 2^43 ms (about 278 years).
 * Waits keep their deadline as 64-bit nanoseconds on CLOCK_MONOTONIC, as the
 * kernel does (KTIME_MAX, 2^63 - 1 ns, about 292 years): a longer timeout would
 * overflow that deadline, so it is refused rather than silently changed.
 * `Infinity` (or no `timeoutMs`) is the way to wait without a limit.
 */
export const MAX_TIMEOUT_MS = 2 ** 43;

/**
 * A timeout in milliseconds: a number from 0 to {@link MAX_TIMEOUT_MS}, or
 * Infinity / undefined for "no timeout". Returns -1 for "no timeout" (the
 * native convention).
 * @throws TypeError for a non-number; RangeError for NaN, a negative number,
 * or one above MAX_TIMEOUT_MS.
 */
export function validateTimeoutMs(value: unknown, name = 'timeoutMs'): number {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return -1;
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (Number.isNaN(value) || value < 0 || value > MAX_TIMEOUT_MS) {
    throw rangeError(
      name,
      'a number of milliseconds from 0 to 2^43 (about 278 years), or Infinity for no timeout',
      value,
    );
  }
  return value;
}

export function validateAbortSignal(value: unknown, name = 'signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw typeError(name, 'an AbortSignal', value);
  return value;
}

export function validateFunction(value: unknown, name: string): (...args: never[]) => unknown {
  if (typeof value !== 'function') throw typeError(name, 'a function', value);
  return value as (...args: never[]) => unknown;
}
