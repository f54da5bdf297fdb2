/**
 * Message codecs for a TypedQueue: how a value becomes bytes in the ring and
 * back. Built in: 'json' (JSON text, UTF-8), 'v8' (node:v8 serialize — the
 * structured clone algorithm: Map, Set, BigInt, Date, RegExp, typed arrays,
 * cycles survive), 'msgpack' (MessagePack by msgpackr, with its record
 * extension), 'raw' (a Uint8Array as is). Or
 * your own `{ encode, decode }`.
 */
import v8 from 'node:v8';
import { C1, Packr, Unpackr } from 'msgpackr';
import { codedError } from '../core/errors.js';
import { typeError, valueError } from '../core/validate.js';
import { fnv1a32 } from './record-schema.js';

/** A user codec. `decode` gets a copy the codec owns (it may keep it). */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  /**
   * Optional identity stored in the queue's fingerprint: a queue created with
   * codec name 'orders-v2' cannot be opened with a codec named otherwise.
   */
  readonly name?: string;
}

export type CodecKind = 'json' | 'v8' | 'msgpack' | 'raw' | 'custom';
/** What `options.codec` accepts. */
export type CodecSpec<T> = 'json' | 'v8' | 'msgpack' | 'raw' | Codec<T>;

/**
 * A value the queue's codec could not encode (`ERR_SHMKIT_ENCODE`, a
 * TypeError: the value is what is wrong) or a message it could not decode
 * (`ERR_SHMKIT_DECODE`), with the queue's name and the codec; the codec's own
 * error is the `cause`.
 */
export interface CodecError extends Error {
  code: 'ERR_SHMKIT_ENCODE' | 'ERR_SHMKIT_DECODE';
  /** The queue's name, e.g. '/orders'. */
  queueName: string;
  /** 'json', 'v8', 'msgpack', 'raw', or 'custom:<name>' ('custom:' for an unnamed custom codec). */
  codec: string;
  cause: unknown;
}

/** @internal A resolved codec. */
export interface ResolvedCodec<T> {
  readonly kind: CodecKind;
  /** `codec:json`, `codec:v8`, `codec:msgpack`, `codec:raw` or `codec:custom:<name>`. */
  readonly description: string;
  readonly fingerprint: number;
  /**
   * Encodes `value` for queue `queueName`.
   * @throws `ERR_SHMKIT_ENCODE` when the codec fails on it; TypeError
   * `ERR_INVALID_ARG_TYPE` for what the codec does not take at all
   * (`undefined` into 'json', a non-Uint8Array into 'raw', a custom encode that returns no bytes).
   */
  encode(value: T, queueName: string, owner?: string): Uint8Array;
  /**
   * Decodes a message of queue `queueName`. `owner` names the object in error
   * messages (default "TypedQueue '<queueName>'"; a service passes its own).
   * @throws `ERR_SHMKIT_DECODE` when the codec fails on it.
   */
  decode(bytes: Uint8Array, queueName: string, owner?: string): T;
  /**
   * Whether decode() may read a view into the ring that is released right
   * after (it copies what it keeps); otherwise it gets its own copy.
   */
  readonly decodesFromView: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function fingerprintOf(description: string): number {
  return fnv1a32(description) || 1;
}

/** How a codec error names the codec: "codec 'json'", "custom codec 'orders-v2'", "an unnamed custom codec". */
function codecLabel(codec: string): string {
  if (!codec.startsWith('custom:')) return `codec '${codec}'`;
  const name = codec.slice('custom:'.length);
  return name === '' ? 'an unnamed custom codec' : `custom codec '${name}'`;
}

function causeText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function codecError(
  code: CodecError['code'],
  message: string,
  Kind: new (message: string) => Error,
  queueName: string,
  codec: string,
  cause: unknown,
): CodecError {
  return Object.assign(codedError(code, message, Kind), { queueName, codec, cause }) as CodecError;
}

/** @internal `ERR_SHMKIT_ENCODE` for a value `codec` failed on. */
function encodeError(
  queueName: string,
  codec: string,
  cause: unknown,
  owner = `TypedQueue '${queueName}'`,
): CodecError {
  const message = `${owner}: ${codecLabel(codec)} cannot encode this value: ${causeText(cause)}`;
  return codecError('ERR_SHMKIT_ENCODE', message, TypeError, queueName, codec, cause);
}

/** @internal `ERR_SHMKIT_DECODE` for a message `codec` failed on (already taken off the queue). */
function decodeError(
  queueName: string,
  codec: string,
  length: number,
  cause: unknown,
  owner = `TypedQueue '${queueName}'`,
): CodecError {
  const message =
    `${owner}: ${codecLabel(codec)} cannot decode a ${length}-byte message ` +
    `(it was taken off the queue; the messages behind it stay): ${causeText(cause)}`;
  return codecError('ERR_SHMKIT_DECODE', message, Error, queueName, codec, cause);
}

/**
 * A resolved codec from its two steps. `encode` is split in two: `check`
 * refuses what the codec does not take at all (an argument error, thrown as
 * is), `run` is the codec proper, whose failures become `ERR_SHMKIT_ENCODE`.
 */
function make<T>(
  kind: CodecKind,
  description: string,
  run: (value: T) => unknown,
  decode: (bytes: Uint8Array) => T,
  decodesFromView: boolean,
  checkResult: (bytes: unknown, value: T) => Uint8Array = (bytes) => bytes as Uint8Array,
): ResolvedCodec<T> {
  const codec = description.slice('codec:'.length);
  return {
    kind,
    description,
    fingerprint: fingerprintOf(description),
    encode(value, queueName, owner) {
      let bytes: unknown;
      try {
        bytes = run(value);
      } catch (error) {
        throw encodeError(queueName, codec, error, owner);
      }
      return checkResult(bytes, value);
    },
    decode(bytes, queueName, owner) {
      try {
        return decode(bytes);
      } catch (error) {
        throw decodeError(queueName, codec, bytes.length, error, owner);
      }
    },
    decodesFromView,
  };
}

// JSON.stringify throws on a BigInt or a cycle (ERR_SHMKIT_ENCODE) and returns
// undefined for what JSON has no text for at all (undefined, a function, a symbol).
const JSON_CODEC = make<unknown>(
  'json',
  'codec:json',
  (value) => {
    const text = JSON.stringify(value);
    return typeof text === 'string' ? encoder.encode(text) : undefined;
  },
  (bytes) => JSON.parse(decoder.decode(bytes)),
  true,
  (bytes, value) => {
    if (bytes === undefined) throw typeError('value', 'a JSON-serializable value', value);
    return bytes as Uint8Array;
  },
);

// v8.deserialize makes typed arrays that alias its input: give it a copy.
const V8_CODEC = make<unknown>(
  'v8',
  'codec:v8',
  (value) => v8.serialize(value),
  (bytes) => v8.deserialize(bytes),
  false,
);

// msgpackr with records (`useRecords`): an object's keys are written once per
// message as a record definition, then its values. No structures are shared
// between messages (each pack() is self-contained), so any consumer of an
// MPMC queue, or one that joins late, decodes any message. `moreTypes` and
// `useBigIntExtension` keep Set, typed arrays and BigInts of any size;
// `copyBuffers` makes decoded binaries copies, so decode may read the ring in
// place. Works with or without msgpackr's optional native extractor.
const MSGPACK_OPTIONS = { useRecords: true, moreTypes: true, useBigIntExtension: true, copyBuffers: true };
const packr = new Packr(MSGPACK_OPTIONS);
const unpackr = new Unpackr(MSGPACK_OPTIONS);

const MSGPACK_CODEC = make<unknown>(
  'msgpack',
  'codec:msgpack',
  (value) => packr.pack(value),
  (bytes) => {
    const value = unpackr.unpack(bytes);
    // 0xC1 ("never used") decodes to a marker object instead of throwing.
    if (value === C1) throw new Error('0xC1 is not a MessagePack value');
    return value;
  },
  true,
  (bytes, value) => {
    // msgpackr turns a function into nil without a word: refuse it at the top.
    if (typeof value === 'function') throw typeError('value', 'a MessagePack-serializable value', value);
    return bytes as Uint8Array;
  },
);

const RAW_CODEC = make<Uint8Array>(
  'raw',
  'codec:raw',
  (value) => value,
  (bytes) => bytes,
  false,
  (bytes, value) => {
    if (!(bytes instanceof Uint8Array)) throw typeError('value', 'a Uint8Array or Buffer', value);
    return bytes;
  },
);

/** @internal The fingerprints of the built-in codecs, to name a mismatch. */
export const BUILTIN_CODEC_FINGERPRINTS: ReadonlyMap<number, string> = new Map([
  [JSON_CODEC.fingerprint, "codec 'json'"],
  [V8_CODEC.fingerprint, "codec 'v8'"],
  [MSGPACK_CODEC.fingerprint, "codec 'msgpack'"],
  [RAW_CODEC.fingerprint, "codec 'raw'"],
]);

/** @internal Resolves `options.codec`. */
export function resolveCodec<T>(spec: unknown, name = 'options.codec'): ResolvedCodec<T> {
  if (spec === 'json') return JSON_CODEC as ResolvedCodec<T>;
  if (spec === 'v8') return V8_CODEC as ResolvedCodec<T>;
  if (spec === 'msgpack') return MSGPACK_CODEC as ResolvedCodec<T>;
  if (spec === 'raw') return RAW_CODEC as unknown as ResolvedCodec<T>;
  if (spec === null || typeof spec !== 'object') {
    throw typeError(name, "'json', 'v8', 'msgpack', 'raw' or an object { encode(value), decode(bytes) }", spec);
  }
  const codec = spec as Codec<T>;
  if (typeof codec.encode !== 'function') throw typeError(`${name}.encode`, 'a function', codec.encode);
  if (typeof codec.decode !== 'function') throw typeError(`${name}.decode`, 'a function', codec.decode);
  if (codec.name !== undefined && typeof codec.name !== 'string')
    throw typeError(`${name}.name`, 'a string', codec.name);
  const label = codec.name ?? '';
  if (label.includes('\n')) throw valueError(`${name}.name`, 'must not contain a newline', label);
  return make<T>(
    'custom',
    `codec:custom:${label}`,
    (value) => codec.encode(value),
    (bytes) => codec.decode(bytes),
    false,
    (bytes) => {
      if (!(bytes instanceof Uint8Array)) throw typeError(`${name}.encode(value) result`, 'a Uint8Array', bytes);
      return bytes;
    },
  );
}
