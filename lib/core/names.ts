/**
 * POSIX IPC names (shm_overview(7), sem_overview(7)): one leading '/', no
 * other '/', at most NAME_MAX bytes after it. A name given without the
 * leading slash gets one, so objects made by Python's
 * multiprocessing.shared_memory (which omits it) or by C open by the same name.
 */
import { rangeError, typeError, valueError } from './validate.js';

/** NAME_MAX on Linux; named semaphores lose 4 bytes to the "sem." prefix. */
export const NAME_MAX = 255;

export function posixName(value: unknown, argName: string, maxBytes: number): string {
  if (typeof value !== 'string') throw typeError(argName, 'a string', value);
  const name = value.startsWith('/') ? value : `/${value}`;
  const body = name.slice(1);
  if (body.includes('\0')) throw valueError(argName, 'must not contain NUL bytes', value);
  if (body.includes('/')) throw valueError(argName, "must not contain '/' after the leading one", value);
  if (body === '' || body === '.' || body === '..') {
    throw valueError(argName, "must name an object (not '', '.' or '..')", value);
  }
  if (Buffer.byteLength(body) > maxBytes) {
    throw rangeError(argName, `at most ${maxBytes} bytes after the leading '/'`, value);
  }
  return name;
}
