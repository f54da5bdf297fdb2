/**
 * The errors of shmkit/nats, built like lib/core/errors.ts builds shmkit's:
 * a Node-style `code` and one sentence saying what to do.
 */
import { codedError } from '../core/errors.js';

/**
 * The optional peer dependency `nats` is not installed (or does not load):
 * `ERR_SHMKIT_NO_NATS`, saying what to install. `cause` is the loader's error.
 */
export function noNatsError(cause?: unknown): Error & { code: string } {
  const error = codedError(
    'ERR_SHMKIT_NO_NATS',
    "shmkit/nats needs the 'nats' client, an optional peer dependency: run `npm install nats` (v2.29 or later 2.x).",
  );
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, enumerable: false });
  return error;
}

/** No service answers on `subject` (NATS "no responders"): like `ENOENT` of Client.connect for a name. */
export function noServiceError(subject: string, method: string): Error & { code: string } {
  return codedError('ENOENT', `no service answers on NATS subject '${subject}' (method '${method}')`);
}

/** The remote service connection was closed: pending calls reject with `ERR_SHMKIT_CLOSED`. */
export function remoteClosedError(subject: string): Error & { code: string } {
  return codedError('ERR_SHMKIT_CLOSED', `the NATS client of service '${subject}' is closed`);
}

/**
 * A JetStream 'out' bridge's publishes were refused for `failAfterMs` ms
 * (a message above the server's max_payload, a full stream that discards
 * new ones), or its connection closed: `ERR_SHMKIT_BRIDGE_REFUSED`, its
 * `cause` the last refusal.
 */
export function bridgeRefused(
  subject: string,
  topic: string,
  failAfterMs: number,
  cause: unknown,
): Error & { code: string } {
  const why =
    cause === undefined
      ? 'its NATS connection is closed'
      : `JetStream refused its publishes for ${failAfterMs} ms (${(cause as Error)?.message ?? String(cause)})`;
  const error = codedError(
    'ERR_SHMKIT_BRIDGE_REFUSED',
    `the bridge of topic '${topic}' to NATS subject '${subject}' stopped: ${why}; the messages not acknowledged were not forwarded`,
  );
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, enumerable: false });
  return error;
}
