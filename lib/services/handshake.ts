/**
 * The connect handshake's payloads, in JSON whatever the service's codec: a
 * client and a server that disagree on the codec must still understand why
 * they cannot talk. HELLO carries { version, codec } (the codec's
 * fingerprint), WELCOME the limits, REFUSE { code, message }.
 */
import type { ServiceLimits } from './header.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** The JSON value of `bytes`, or undefined when they are not JSON. */
export function readJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

/** WELCOME: the limits the client must respect. */
export function helloPayload(limits: ServiceLimits): Uint8Array {
  return jsonBytes(limits);
}
