/**
 * Message codecs for a TypedQueue: how a value becomes bytes in the ring and
 * back. Built in: 'json' (JSON text, UTF-8), 'v8' (node:v8 serialize — the
 * structured clone algorithm: Map, Set, BigInt, Date, RegExp, typed arrays,
 * cycles survive), 'raw' (a Uint8Array as is). Or your own `{ encode, decode }`.
 */
import v8 from 'node:v8';
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

export type CodecKind = 'json' | 'v8' | 'raw' | 'custom';
/** What `options.codec` accepts. */
export type CodecSpec<T> = 'json' | 'v8' | 'raw' | Codec<T>;

/** @internal A resolved codec. */
export interface ResolvedCodec<T> {
  readonly kind: CodecKind;
  /** `codec:json`, `codec:v8`, `codec:raw` or `codec:custom:<name>`. */
  readonly description: string;
  readonly fingerprint: number;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
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

function make<T>(
  kind: CodecKind,
  description: string,
  encode: (value: T) => Uint8Array,
  decode: (bytes: Uint8Array) => T,
  decodesFromView: boolean,
): ResolvedCodec<T> {
  return { kind, description, fingerprint: fingerprintOf(description), encode, decode, decodesFromView };
}

const JSON_CODEC = make<unknown>(
  'json',
  'codec:json',
  (value) => {
    const text = JSON.stringify(value);
    if (typeof text !== 'string') throw typeError('value', 'a JSON-serializable value', value);
    return encoder.encode(text);
  },
  (bytes) => JSON.parse(decoder.decode(bytes)),
  true,
);

// v8.deserialize makes typed arrays that alias its input: give it a copy.
const V8_CODEC = make<unknown>(
  'v8',
  'codec:v8',
  (value) => v8.serialize(value),
  (bytes) => v8.deserialize(bytes),
  false,
);

const RAW_CODEC = make<Uint8Array>(
  'raw',
  'codec:raw',
  (value) => {
    if (!(value instanceof Uint8Array)) throw typeError('value', 'a Uint8Array or Buffer', value);
    return value;
  },
  (bytes) => bytes,
  false,
);

/** @internal The fingerprints of the built-in codecs, to name a mismatch. */
export const BUILTIN_CODEC_FINGERPRINTS: ReadonlyMap<number, string> = new Map([
  [JSON_CODEC.fingerprint, "codec 'json'"],
  [V8_CODEC.fingerprint, "codec 'v8'"],
  [RAW_CODEC.fingerprint, "codec 'raw'"],
]);

/** @internal Resolves `options.codec`. */
export function resolveCodec<T>(spec: unknown, name = 'options.codec'): ResolvedCodec<T> {
  if (spec === 'json') return JSON_CODEC as ResolvedCodec<T>;
  if (spec === 'v8') return V8_CODEC as ResolvedCodec<T>;
  if (spec === 'raw') return RAW_CODEC as unknown as ResolvedCodec<T>;
  if (spec === null || typeof spec !== 'object') {
    throw typeError(name, "'json', 'v8', 'raw' or an object { encode(value), decode(bytes) }", spec);
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
    (value) => {
      const bytes = codec.encode(value);
      if (!(bytes instanceof Uint8Array)) throw typeError(`${name}.encode(value) result`, 'a Uint8Array', bytes);
      return bytes;
    },
    (bytes) => codec.decode(bytes),
    false,
  );
}
