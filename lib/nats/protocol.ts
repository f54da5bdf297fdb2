/**
 * The subject layout and headers of a service over NATS (docs/beyond-one-host.md):
 *
 * - `<subject>.<method>`: calls, streams and notifications (header `Shmkit-Kind`);
 *   the payload is the params, encoded by the service's codec.
 * - `<subject>._cancel`: a caller that gives up publishes the reply subject
 *   of its call here; the handler's `ctx.signal` aborts.
 * - `<subject>._events`: broadcasts (header `Shmkit-Event` names the event).
 *
 * Answers go to the caller's reply subject with `Shmkit-Status`: `ok` (the
 * result), `error` (an ErrorPayload, as in an ERROR frame), `chunk` (one
 * chunk of a stream, sent as a request: the caller's reply is its credit),
 * `end` (the stream's end marker), `ping` (a call running for a second
 * or more asks whether its caller is still there: `ok`, or `cancel` for a call it left).
 */

import { typeError, valueError } from '../core/validate.js';

export const HEADER = {
  kind: 'Shmkit-Kind',
  status: 'Shmkit-Status',
  /** The caller's timeout, in ms: the service aborts the handler by then even if the caller vanished. */
  timeoutMs: 'Shmkit-Timeout-Ms',
  event: 'Shmkit-Event',
  /** On `_cancel`: 'timed-out' when the caller's timeout ran out. */
  reason: 'Shmkit-Reason',
} as const;

export type CallKind = 'call' | 'stream' | 'notify';
export type ReplyStatus = 'ok' | 'error' | 'chunk' | 'end' | 'cancel' | 'ping';

/** The control tokens after `<subject>.`: no method can be called by these names over NATS. */
export const CONTROL = { cancel: '_cancel', events: '_events' } as const;

/** Chunks of a stream in flight to its caller before the service waits for credit (as STREAM_WINDOW locally). */
export const NATS_STREAM_WINDOW = 64;

/**
 * A call or stream still running asks its caller this often (ms) whether it
 * is still there (a `ping` request the caller answers at once): a caller
 * that vanished would otherwise leave its handler running.
 */
export const NATS_PING_MS = 1000;

/**
 * A NATS subject prefix: dot-separated tokens without spaces or wildcards.
 * @throws TypeError naming `name` otherwise.
 */
export function validSubject(value: unknown, name: string): string {
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
  if (!/^[^\s.*>]+(\.[^\s.*>]+)*$/.test(value))
    throw valueError(name, "must be a NATS subject: dot-separated tokens without spaces, '*' or '>'", value);
  return value;
}

/** `method` as a subject token: a method name with spaces or wildcards cannot travel over NATS. */
export function methodSubject(subject: string, method: string): string {
  return `${subject}.${validSubject(method, 'method')}`;
}
