/**
 * POSIX IPC names (shm_overview(7), sem_overview(7)): one leading '/', no
 * other '/', at most NAME_MAX bytes after it. A name given without the
 * leading slash gets one, so objects made by Python's
 * multiprocessing.shared_memory (which omits it) or by C open by the same name.
 */
import { rangeError, typeError, valueError } from './validate.js';

/** The index of the first control character (U+0000–U+001F, U+007F) in `value`, or -1. */
function controlCharacterAt(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return i;
  }
  return -1;
}

/**
 * Refuses a name or path holding a control character (U+0000–U+001F, U+007F):
 * a newline would split the lines of `shmkit ls`, of the FIFO registry and of
 * any log that prints the name, and no tool shows such a name faithfully.
 * @throws TypeError `ERR_INVALID_ARG_VALUE` naming `argName` and the character.
 */
export function rejectControlCharacters(value: string, argName: string): void {
  const at = controlCharacterAt(value);
  if (at < 0) return;
  const code = value.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0');
  throw valueError(
    argName,
    `must not contain control characters (U+0000 to U+001F, U+007F): U+${code} at index ${at}`,
    JSON.stringify(value),
  );
}

/** NAME_MAX on Linux; named semaphores lose 4 bytes to the "sem." prefix. */
export const NAME_MAX = 255;

export function posixName(value: unknown, argName: string, maxBytes: number): string {
  if (typeof value !== 'string') throw typeError(argName, 'a string', value);
  const name = value.startsWith('/') ? value : `/${value}`;
  const body = name.slice(1);
  if (body.includes('\0')) throw valueError(argName, 'must not contain NUL bytes', value);
  rejectControlCharacters(value, argName);
  if (body.includes('/')) throw valueError(argName, "must not contain '/' after the leading one", value);
  if (body === '' || body === '.' || body === '..') {
    throw valueError(argName, "must name an object (not '', '.' or '..')", value);
  }
  if (Buffer.byteLength(body) > maxBytes) {
    throw rangeError(argName, `at most ${maxBytes} bytes after the leading '/'`, value);
  }
  return name;
}
