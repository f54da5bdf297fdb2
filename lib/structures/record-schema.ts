/**
 * Fixed-size records from a schema: `{ ts: 'f64', qty: 'u32', side: 'u8' }`
 * compiles once into a {@link RecordCodec} that writes and reads records with
 * a DataView — no JSON, no per-field allocation.
 *
 * Layout rule (the same as a C struct with the fields in declaration order,
 * so C can read the records, see docs/typed-queue.md):
 * - little-endian;
 * - fields in declaration order (the schema object's key order);
 * - each field at the next offset that is a multiple of its alignment:
 *   i8/u8/bool/bytes:N/string:N align to 1, i16/u16 to 2, i32/u32/f32 to 4,
 *   i64/u64/f64 to 8;
 * - the record's size is rounded up to its largest field alignment.
 *
 * bool is one byte (0 or 1; any non-zero byte reads as true). `bytes:N` is
 * exactly N bytes. `string:N` is UTF-8 in at most N bytes, NUL-padded; a
 * reader stops at the first NUL or after N bytes.
 */

import { codedError } from '../core/errors.js';
import { rangeError, typeError, valueError } from '../core/validate.js';

/** The scalar field types. */
export type ScalarFieldType = 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64' | 'bool';
/** A field type: a scalar, `'bytes:N'` (a Uint8Array of exactly N bytes) or `'string:N'` (UTF-8, at most N bytes). */
export type FieldType = ScalarFieldType | `bytes:${number}` | `string:${number}`;
/** A record schema: field name → field type, in declaration order. */
export type Schema = { readonly [field: string]: FieldType };

/** The JS type a field type decodes to. */
export type FieldValue<F extends FieldType> = F extends 'i64' | 'u64'
  ? bigint
  : F extends 'bool'
    ? boolean
    : F extends `string:${number}`
      ? string
      : F extends `bytes:${number}`
        ? Uint8Array
        : number;

/** The record type of a schema: `{ ts: 'f64', id: 'u64' }` → `{ ts: number; id: bigint }`. */
export type RecordOf<S extends Schema> = { -readonly [K in keyof S]: FieldValue<S[K]> };

/** Where a field lives in a record. */
export interface FieldLayout {
  readonly name: string;
  readonly type: FieldType;
  /** Byte offset from the record's start. */
  readonly offset: number;
  /** Bytes the field takes (N for bytes:N and string:N). */
  readonly size: number;
  /** Its alignment in bytes. */
  readonly align: number;
}

// Type codes for the encode/decode switch (small integers keep it a jump table).
const I8 = 0;
const U8 = 1;
const I16 = 2;
const U16 = 3;
const I32 = 4;
const U32 = 5;
const I64 = 6;
const U64 = 7;
const F32 = 8;
const F64 = 9;
const BOOL = 10;
const BYTES = 11;
const STRING = 12;

const SCALARS: Record<ScalarFieldType, { code: number; size: number }> = {
  i8: { code: I8, size: 1 },
  u8: { code: U8, size: 1 },
  i16: { code: I16, size: 2 },
  u16: { code: U16, size: 2 },
  i32: { code: I32, size: 4 },
  u32: { code: U32, size: 4 },
  i64: { code: I64, size: 8 },
  u64: { code: U64, size: 8 },
  f32: { code: F32, size: 4 },
  f64: { code: F64, size: 8 },
  bool: { code: BOOL, size: 1 },
};

const INT_RANGE: Record<number, [number, number]> = {
  [I8]: [-128, 127],
  [U8]: [0, 255],
  [I16]: [-32768, 32767],
  [U16]: [0, 65535],
  [I32]: [-2147483648, 2147483647],
  [U32]: [0, 4294967295],
};

/** Longest bytes:N / string:N field. */
export const MAX_FIELD_BYTES = 65536;
/** Most fields in one schema. */
export const MAX_FIELDS = 1024;
const FIELD_NAME = /^[A-Za-z_$][\w$]*$/;

interface Field extends FieldLayout {
  readonly code: number;
  /** Name used in error messages: `record.<name>`. */
  readonly label: string;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

function missingField(label: string, expected: string): TypeError {
  return codedError('ERR_INVALID_ARG_TYPE', `The "${label}" field is missing: it must be ${expected}`, TypeError);
}

function expectedOf(code: number, size: number): string {
  if (code === I64 || code === U64) return 'a bigint';
  if (code === BOOL) return 'a boolean';
  if (code === BYTES) return `a Uint8Array of ${size} bytes`;
  if (code === STRING) return `a string of at most ${size} UTF-8 bytes`;
  return 'a number';
}

function fieldError(field: Field, value: unknown): Error {
  const expected = expectedOf(field.code, field.size);
  if (value === undefined) return missingField(field.label, expected);
  return typeError(field.label, expected, value);
}

/** FNV-1a, 32 bits, of a string's UTF-16 code units (the descriptions are ASCII). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

function parseType(type: unknown, label: string): { code: number; size: number; align: number } {
  if (typeof type !== 'string') throw typeError(label, 'a field type string', type);
  const scalar = SCALARS[type as ScalarFieldType];
  if (scalar && Object.hasOwn(SCALARS, type)) return { code: scalar.code, size: scalar.size, align: scalar.size };
  const match = /^(bytes|string):([1-9][0-9]*)$/.exec(type);
  if (match) {
    const size = Number(match[2]);
    if (size > MAX_FIELD_BYTES) throw rangeError(label, `a length <= ${MAX_FIELD_BYTES}`, type);
    return { code: match[1] === 'bytes' ? BYTES : STRING, size, align: 1 };
  }
  throw valueError(
    label,
    "must be one of 'i8', 'u8', 'i16', 'u16', 'i32', 'u32', 'i64', 'u64', 'f32', 'f64', 'bool', 'bytes:N', 'string:N' (N >= 1)",
    type,
  );
}

/** The views a codec uses for one ArrayBuffer, cached so a ring's mapping costs nothing per record. */
interface Views {
  buffer: ArrayBufferLike;
  view: DataView;
  bytes: Uint8Array;
}

/**
 * A compiled schema: encodes records (plain objects, one property per field)
 * into `byteLength` bytes laid out like a C struct (see the layout rule at the
 * top of this file and docs/typed-queue.md) and decodes them back, with a
 * DataView: no JSON, no per-field allocation. Build one with
 * {@link compileSchema}; a `TypedQueue` of records uses one. Pure JS,
 * no system call.
 *
 * Errors: a bad schema throws TypeError/RangeError naming the field
 * (`schema.qty`); a bad record TypeError/RangeError naming the field
 * (`record.qty`) with what was expected and what was given; a source or
 * target shorter than `byteLength` a RangeError.
 */
export class RecordCodec<S extends Schema = Schema> {
  /** The schema, frozen copy. */
  readonly schema: Readonly<S>;
  /** Every field's offset, size and alignment, in declaration order. */
  readonly fields: readonly FieldLayout[];
  /** Bytes of one record (alignment padding included). */
  readonly byteLength: number;
  /** The record's alignment: its largest field alignment. */
  readonly alignment: number;
  /** Canonical description: `record:name=type,name=type,...` (names, types, order). */
  readonly description: string;
  /** FNV-1a 32-bit hash of `description`; never 0. */
  readonly fingerprint: number;
  readonly #fields: Field[];
  readonly #names: string[];
  readonly #codes: Int32Array;
  readonly #offsets: Int32Array;
  readonly #sizes: Int32Array;
  readonly #mins: Float64Array;
  readonly #maxs: Float64Array;
  #views: Views | undefined;

  /** @internal Use compileSchema(). */
  constructor(schema: S) {
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
      throw typeError('schema', 'an object of field name to field type', schema);
    }
    const names = Object.keys(schema);
    if (names.length === 0) throw valueError('schema', 'must have at least one field', schema);
    if (names.length > MAX_FIELDS) throw valueError('schema', `must have at most ${MAX_FIELDS} fields`, names.length);
    const fields: Field[] = [];
    let offset = 0;
    let alignment = 1;
    for (const name of names) {
      if (!FIELD_NAME.test(name)) {
        throw valueError(
          `schema.${name}`,
          'is not a valid field name (letters, digits, _ and $; not a leading digit)',
          name,
        );
      }
      const type = schema[name] as FieldType;
      const { code, size, align } = parseType(type, `schema.${name}`);
      offset = (offset + align - 1) & ~(align - 1);
      fields.push({ name, type, offset, size, align, code, label: `record.${name}` });
      offset += size;
      alignment = Math.max(alignment, align);
    }
    this.byteLength = (offset + alignment - 1) & ~(alignment - 1);
    this.alignment = alignment;
    this.#fields = fields;
    this.#names = names;
    this.#codes = Int32Array.from(fields, (f) => f.code);
    this.#offsets = Int32Array.from(fields, (f) => f.offset);
    this.#sizes = Int32Array.from(fields, (f) => f.size);
    this.#mins = Float64Array.from(fields, (f) => INT_RANGE[f.code]?.[0] ?? 0);
    this.#maxs = Float64Array.from(fields, (f) => INT_RANGE[f.code]?.[1] ?? 0);
    this.fields = Object.freeze(
      fields.map(({ name, type, offset: at, size, align }) => Object.freeze({ name, type, offset: at, size, align })),
    );
    this.schema = Object.freeze(Object.fromEntries(fields.map((f) => [f.name, f.type]))) as Readonly<S>;
    this.description = `record:${fields.map((f) => `${f.name}=${f.type}`).join(',')}`;
    this.fingerprint = fnv1a32(this.description) || 1;
  }

  /** A new record with every field zero ('' for strings, zero-filled bytes): a target for decodeInto(). */
  create(): RecordOf<S> {
    const record: Record<string, unknown> = {};
    for (const field of this.#fields) {
      const { code } = field;
      record[field.name] =
        code === I64 || code === U64
          ? 0n
          : code === BOOL
            ? false
            : code === STRING
              ? ''
              : code === BYTES
                ? new Uint8Array(field.size)
                : 0;
    }
    return record as RecordOf<S>;
  }

  /**
   * Encodes `record` into a new Uint8Array of byteLength bytes.
   * @throws TypeError/RangeError naming the field (`record.qty`) that is missing, of the wrong type or out of range.
   */
  encode(record: RecordOf<S>): Uint8Array {
    const target = new Uint8Array(this.byteLength);
    this.encodeInto(record, target, 0);
    return target;
  }

  /**
   * Encodes `record` into `target` at byte `offset` (byteLength bytes). On a
   * validation error, bytes before the bad field may have been written.
   * @throws TypeError/RangeError naming the field; RangeError if it does not fit.
   */
  encodeInto(record: RecordOf<S>, target: Uint8Array, offset = 0): void {
    const views = this.#viewsOf(target, offset, 'target');
    if (record === null || typeof record !== 'object') throw typeError('record', 'an object', record);
    this.#write(views.view, views.bytes, target.byteOffset + offset, record as Record<string, unknown>);
  }

  /**
   * Decodes the record at byte `offset` of `source` into a new object.
   * @throws RangeError if fewer than byteLength bytes are there.
   */
  decode(source: Uint8Array, offset = 0): RecordOf<S> {
    return this.decodeInto(this.create(), source, offset);
  }

  /**
   * Decodes the record at `offset` of `source` into `target`, overwriting its
   * fields, and returns `target`. Allocates nothing for numeric, bigint and
   * bool fields; a bytes:N field is copied into the target's own Uint8Array
   * when it has one of N bytes; a string field makes a string (short ASCII
   * strings without TextDecoder).
   */
  decodeInto<R extends RecordOf<S>>(target: R, source: Uint8Array, offset = 0): R {
    if (target === null || typeof target !== 'object') throw typeError('target', 'an object', target);
    const views = this.#viewsOf(source, offset, 'source');
    this.#read(views.view, views.bytes, source.byteOffset + offset, target as Record<string, unknown>);
    return target;
  }

  #viewsOf(bytes: Uint8Array, offset: number, name: string): Views {
    if (!(bytes instanceof Uint8Array)) throw typeError(name, 'a Uint8Array or Buffer', bytes);
    if (!Number.isInteger(offset) || offset < 0 || offset + this.byteLength > bytes.byteLength) {
      throw rangeError(
        'offset',
        `an integer >= 0 with ${this.byteLength} record bytes after it in the ${bytes.byteLength}-byte ${name}`,
        offset,
      );
    }
    const buffer = bytes.buffer;
    let views = this.#views;
    if (views === undefined || views.buffer !== buffer || views.bytes.byteLength !== buffer.byteLength) {
      views = { buffer, view: new DataView(buffer), bytes: new Uint8Array(buffer) };
      this.#views = views;
    }
    return views;
  }

  /**
   * @internal Writes `record` at absolute byte `base` of the buffer that
   * `view` and `bytes` both cover whole; no bounds checks (the caller made them).
   */
  writeAt(view: DataView, bytes: Uint8Array, base: number, record: RecordOf<S>): void {
    if (record === null || typeof record !== 'object') throw typeError('record', 'an object', record);
    this.#write(view, bytes, base, record as Record<string, unknown>);
  }

  /** @internal Reads the record at absolute byte `base` into `target` (see writeAt). */
  readAt(view: DataView, bytes: Uint8Array, base: number, target: RecordOf<S>): void {
    this.#read(view, bytes, base, target as Record<string, unknown>);
  }

  #write(view: DataView, bytes: Uint8Array, base: number, record: Record<string, unknown>): void {
    const codes = this.#codes;
    const offsets = this.#offsets;
    const names = this.#names;
    const n = codes.length;
    for (let i = 0; i < n; i++) {
      const value = record[names[i] as string];
      const at = base + (offsets[i] as number);
      const code = codes[i] as number;
      switch (code) {
        case F64:
          if (typeof value !== 'number') throw fieldError(this.#fields[i] as Field, value);
          view.setFloat64(at, value, true);
          break;
        case F32:
          if (typeof value !== 'number') throw fieldError(this.#fields[i] as Field, value);
          view.setFloat32(at, value, true);
          break;
        case U8:
        case I8:
        case U16:
        case I16:
        case U32:
        case I32: {
          if (typeof value !== 'number') throw fieldError(this.#fields[i] as Field, value);
          if (!Number.isInteger(value) || value < (this.#mins[i] as number) || value > (this.#maxs[i] as number)) {
            const field = this.#fields[i] as Field;
            const [min, max] = INT_RANGE[code] as [number, number];
            throw rangeError(field.label, `an integer >= ${min} and <= ${max} (${field.type})`, value);
          }
          if (code <= U8) bytes[at] = value;
          else if (code <= U16) view.setUint16(at, value, true);
          else view.setUint32(at, value, true);
          break;
        }
        case U64:
        case I64: {
          if (typeof value !== 'bigint') throw fieldError(this.#fields[i] as Field, value);
          if (code === U64 ? BigInt.asUintN(64, value) !== value : BigInt.asIntN(64, value) !== value) {
            const field = this.#fields[i] as Field;
            const range = code === U64 ? '>= 0n and <= 2n ** 64n - 1n' : '>= -(2n ** 63n) and <= 2n ** 63n - 1n';
            throw rangeError(field.label, `a bigint ${range} (${field.type})`, value);
          }
          if (code === U64) view.setBigUint64(at, value, true);
          else view.setBigInt64(at, value, true);
          break;
        }
        case BOOL:
          if (typeof value !== 'boolean') throw fieldError(this.#fields[i] as Field, value);
          bytes[at] = value ? 1 : 0;
          break;
        case BYTES: {
          const size = this.#sizes[i] as number;
          if (!(value instanceof Uint8Array)) throw fieldError(this.#fields[i] as Field, value);
          if (value.length !== size) {
            const field = this.#fields[i] as Field;
            throw rangeError(`${field.label}.length`, `${size} (${field.type})`, value.length);
          }
          bytes.set(value, at);
          break;
        }
        default: {
          // STRING
          if (typeof value !== 'string') throw fieldError(this.#fields[i] as Field, value);
          this.#writeString(bytes, at, this.#sizes[i] as number, value, i);
        }
      }
    }
  }

  #writeString(bytes: Uint8Array, at: number, size: number, value: string, i: number): void {
    const length = value.length;
    let j = 0;
    // ASCII fast path: no TextEncoder call, no subarray.
    if (length <= size) {
      for (; j < length; j++) {
        const c = value.charCodeAt(j);
        if (c >= 0x80 || c === 0) break;
        bytes[at + j] = c;
      }
    }
    let written = j;
    if (j < length) {
      if (value.indexOf('\0', j) >= 0) {
        const field = this.#fields[i] as Field;
        throw valueError(field.label, 'must not contain a NUL character (a reader stops at the first NUL)', value);
      }
      const result = utf8Encoder.encodeInto(value.slice(j), bytes.subarray(at + j, at + size));
      if ((result.read as number) < length - j) {
        const field = this.#fields[i] as Field;
        const total = Buffer.byteLength(value, 'utf8');
        throw codedError(
          'ERR_OUT_OF_RANGE',
          `The value of "${field.label}" is out of range. It must be at most ${size} UTF-8 bytes (${field.type}). Received a string of ${total} bytes`,
          RangeError,
        );
      }
      written = j + (result.written as number);
    }
    if (written < size) bytes.fill(0, at + written, at + size);
  }

  #read(view: DataView, bytes: Uint8Array, base: number, target: Record<string, unknown>): void {
    const codes = this.#codes;
    const offsets = this.#offsets;
    const names = this.#names;
    const n = codes.length;
    for (let i = 0; i < n; i++) {
      const at = base + (offsets[i] as number);
      const name = names[i] as string;
      switch (codes[i]) {
        case F64:
          target[name] = view.getFloat64(at, true);
          break;
        case F32:
          target[name] = view.getFloat32(at, true);
          break;
        case U8:
          target[name] = bytes[at];
          break;
        case I8:
          target[name] = view.getInt8(at);
          break;
        case U16:
          target[name] = view.getUint16(at, true);
          break;
        case I16:
          target[name] = view.getInt16(at, true);
          break;
        case U32:
          target[name] = view.getUint32(at, true);
          break;
        case I32:
          target[name] = view.getInt32(at, true);
          break;
        case U64:
          target[name] = view.getBigUint64(at, true);
          break;
        case I64:
          target[name] = view.getBigInt64(at, true);
          break;
        case BOOL:
          target[name] = bytes[at] !== 0;
          break;
        case BYTES: {
          const size = this.#sizes[i] as number;
          const current = target[name];
          if (current instanceof Uint8Array && current.length === size) {
            // Short fields: a loop beats making a subarray for set().
            if (size <= 64) for (let k = 0; k < size; k++) current[k] = bytes[at + k] as number;
            else current.set(bytes.subarray(at, at + size));
          } else {
            target[name] = bytes.slice(at, at + size);
          }
          break;
        }
        default:
          target[name] = readString(bytes, at, this.#sizes[i] as number);
      }
    }
  }
}

function readString(bytes: Uint8Array, at: number, size: number): string {
  let end = at;
  const limit = at + size;
  let ascii = true;
  for (; end < limit; end++) {
    const b = bytes[end] as number;
    if (b === 0) break;
    if (b >= 0x80) ascii = false;
  }
  if (end === at) return '';
  if (ascii && end - at <= 32) {
    let text = '';
    for (let k = at; k < end; k++) text += String.fromCharCode(bytes[k] as number);
    return text;
  }
  return utf8Decoder.decode(bytes.subarray(at, end));
}

/**
 * Compiles a schema once into a codec. Field order is the object's key order
 * (names must be identifiers, so no integer-like key is reordered by JS).
 * @throws TypeError/RangeError naming the bad field (`schema.qty`).
 * @example
 * const trade = compileSchema({ ts: 'f64', qty: 'u32', side: 'u8', sym: 'string:8' });
 * const bytes = trade.encode({ ts: Date.now(), qty: 10, side: 1, sym: 'ACME' });
 */
export function compileSchema<const S extends Schema>(schema: S): RecordCodec<S> {
  return new RecordCodec(schema);
}
