/**
 * The errors of services: what a caller sees when the handler failed
 * (RemoteError, carrying the handler's code, message and data) and the
 * coded errors of the call layer itself.
 */
import { codedError } from '../core/errors.js';

/** What travels in an ERROR frame (encoded by the service's codec). */
export interface ErrorPayload {
  code?: string;
  message: string;
  name?: string;
  data?: unknown;
}

/**
 * A handler on the server threw (or its promise rejected): the caller's
 * call() rejects with this. `code`, `message` and `data` are the handler
 * error's own (`data` when it had a `data` property the codec could carry);
 * `method` is the method called.
 */
export class RemoteError extends Error {
  override name = 'RemoteError';
  readonly code: string | undefined;
  readonly data: unknown;
  readonly method: string;
  /** The name of the error the handler threw (e.g. 'TypeError'). */
  readonly remoteName: string | undefined;

  constructor(payload: ErrorPayload, method: string) {
    super(payload.message);
    this.code = payload.code;
    this.data = payload.data;
    this.method = method;
    this.remoteName = payload.name;
  }
}

/** The payload of an ERROR frame for `error` (anything a handler threw). */
export function errorPayload(error: unknown): ErrorPayload {
  if (!(error instanceof Error)) return { message: String(error) };
  const { code, data } = error as Error & { code?: unknown; data?: unknown };
  return {
    message: error.message,
    name: error.name,
    ...(typeof code === 'string' ? { code } : {}),
    ...(data !== undefined ? { data } : {}),
  };
}

/**
 * An error payload, encoded by `encode` (a service's codec); `data` the codec
 * cannot carry is left out rather than lose the error. The shared-memory
 * service and its NATS exposure answer errors with it.
 */
export function encodeErrorPayload(payload: ErrorPayload, encode: (value: unknown) => Uint8Array): Uint8Array {
  try {
    return encode(payload);
  } catch {
    const { data: _dropped, ...rest } = payload;
    return encode(rest);
  }
}

/**
 * The error a call rejects with for an ERROR answer: a coded error of the
 * call layer (the server refused or stopped the call; its message names the
 * service already), or the handler's {@link RemoteError}. Both clients (shared
 * memory and NATS) read answers with it.
 */
export function callError(payload: ErrorPayload, method: string): Error {
  const code = payload?.code;
  if (typeof code === 'string' && CALL_LAYER_CODES.has(code)) return codedError(code, String(payload.message));
  return new RemoteError(payload ?? { message: 'the handler failed' }, method);
}
const CALL_LAYER_CODES = new Set([
  'ERR_SHMKIT_NO_SUCH_METHOD',
  'ERR_SHMKIT_OVERLOADED',
  'ERR_SHMKIT_SERVICE_DRAINING',
  'ERR_SHMKIT_SERVICE_CLOSED',
]);

/** An error of the call layer (`ERR_SHMKIT_SERVICE_*`, `ERR_SHMKIT_PEER_DIED`, …) naming the service. */
export function serviceError(code: string, service: string, message: string): Error & { code: string } {
  return codedError(code, `service '${service}': ${message}`);
}
