/**
 * Loads the optional peer dependency `nats` lazily: shmkit's main entry never
 * needs it, and shmkit/nats finds out it is missing with one clear error
 * (`ERR_SHMKIT_NO_NATS`) rather than a bare MODULE_NOT_FOUND.
 */
import { noNatsError } from './errors.js';

/** The parts of the `nats` module shmkit/nats uses. */
export type NatsModule = typeof import('nats');

let loading: Promise<NatsModule> | undefined;

/** The `nats` module (imported once). @throws (rejects) `ERR_SHMKIT_NO_NATS` when it is not installed. */
export function loadNats(specifier = 'nats'): Promise<NatsModule> {
  if (specifier !== 'nats') return importNats(specifier); // tests: a name that does not resolve
  loading ??= importNats(specifier);
  return loading;
}

async function importNats(specifier: string): Promise<NatsModule> {
  try {
    const mod = (await import(specifier)) as NatsModule & { default?: NatsModule };
    // Imported from ESM, a CommonJS module's exports may sit under `default`.
    return typeof mod.headers === 'function' ? mod : (mod.default as NatsModule);
  } catch (error) {
    if (isNotFound(error, specifier)) throw noNatsError(error);
    throw error;
  }
}

/**
 * Throws `ERR_SHMKIT_NO_NATS` at once when `nats` cannot be resolved, so that
 * importing shmkit/nats without it fails right there (resolving loads nothing).
 */
export function assertNatsResolvable(resolve: (id: string) => string = require.resolve): void {
  try {
    resolve('nats');
  } catch (error) {
    if (isNotFound(error, 'nats')) throw noNatsError(error);
    throw error;
  }
}

function isNotFound(error: unknown, specifier: string): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return false;
  return String((error as Error).message).includes(`'${specifier}'`);
}
