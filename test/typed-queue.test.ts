import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  compileSchema,
  type RecordOf,
  RingBuffer,
  recordCapacityBytes,
  type Schema,
  TypedQueue,
  type TypedQueueCodecOptions,
  type TypedQueueRecordOptions,
} from '../lib/index.js';
import { ALL_TYPES, allTypesRecord, orStall, orStallAsync, SOAK_SCHEMA } from './fixtures/tq-records.mjs';
import { box, samples } from './fixtures/tq-values.mjs';
import { type ChildResult, runFixture, threadsNow, track, uniqueName, untilAsleep } from './helpers.js';

function records<const S extends Schema>(options: TypedQueueRecordOptions<S>, name = uniqueName('tq')) {
  return track(TypedQueue.create(name, options), TypedQueue);
}

function codecQueue<T>(options: TypedQueueCodecOptions<T>, name = uniqueName('tq')) {
  return track(TypedQueue.create<T>(name, options), TypedQueue);
}

function ok(result: ChildResult): ChildResult {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result;
}

/**
 * The next step of an async iterator, or an ETIMEDOUT error after `timeoutMs`:
 * lets orStallAsync() bound a `for await` step, which takes no timeout of its
 * own, so a lost wake-up fails naming the side and the index instead of
 * hanging until the test's time limit.
 */
async function nextWithin<T>(iterator: AsyncIterator<T>, timeoutMs: number): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`no value in ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([iterator.next(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

const EXAMPLE = {
  ts: 'f64',
  price: 'f64',
  qty: 'u32',
  side: 'u8',
  id: 'u64',
  ok: 'bool',
  sym: 'string:8',
  blob: 'bytes:16',
} as const;

describe('record schema', () => {
  it('lays fields out like a C struct: declaration order, natural alignment, size rounded to the largest alignment', () => {
    const codec = compileSchema(EXAMPLE);
    expect(codec.fields.map((f) => [f.name, f.offset, f.size])).toEqual([
      ['ts', 0, 8],
      ['price', 8, 8],
      ['qty', 16, 4],
      ['side', 20, 1],
      ['id', 24, 8],
      ['ok', 32, 1],
      ['sym', 33, 8],
      ['blob', 41, 16],
    ]);
    expect(codec.byteLength).toBe(64);
    expect(codec.alignment).toBe(8);
    const small = compileSchema({ a: 'u8', b: 'u16', c: 'u8' });
    expect(small.fields.map((f) => f.offset)).toEqual([0, 2, 4]);
    expect(small.byteLength).toBe(6);
    // Little-endian bytes at those offsets.
    const bytes = small.encode({ a: 1, b: 0x0203, c: 4 });
    expect([...bytes]).toEqual([1, 0, 3, 2, 4, 0]);
  });

  it('fingerprints names, types and order', () => {
    const base = compileSchema({ a: 'u32', b: 'f64' });
    expect(compileSchema({ a: 'u32', b: 'f64' }).fingerprint).toBe(base.fingerprint);
    for (const other of [
      { b: 'f64', a: 'u32' },
      { a: 'i32', b: 'f64' },
      { a: 'u32', c: 'f64' },
      { a: 'u32' },
    ] as Schema[]) {
      expect(compileSchema(other).fingerprint).not.toBe(base.fingerprint);
    }
    expect(base.description).toBe('record:a=u32,b=f64');
  });

  it('round-trips every field type, edge values included', () => {
    const codec = compileSchema(ALL_TYPES);
    const edges: RecordOf<typeof ALL_TYPES>[] = [
      {
        i8: -128,
        u8: 255,
        i16: -32768,
        u16: 65535,
        i32: -2147483648,
        u32: 4294967295,
        i64: -(2n ** 63n),
        u64: 2n ** 64n - 1n,
        f32: Number.NaN,
        f64: Number.NaN,
        ok: true,
        sym: '',
        blob: new Uint8Array(16).fill(255),
      },
      {
        i8: 127,
        u8: 0,
        i16: 32767,
        u16: 0,
        i32: 2147483647,
        u32: 0,
        i64: 2n ** 63n - 1n,
        u64: 0n,
        f32: -0,
        f64: -0,
        ok: false,
        sym: 'ABCDEFGH', // exactly 8 bytes
        blob: new Uint8Array(16),
      },
      {
        i8: 0,
        u8: 1,
        i16: -1,
        u16: 1,
        i32: -1,
        u32: 1,
        i64: -1n,
        u64: 1n,
        f32: Number.POSITIVE_INFINITY,
        f64: Number.MAX_VALUE,
        ok: true,
        sym: 'ü日本', // 2 + 3 + 3 = 8 bytes
        blob: Uint8Array.from({ length: 16 }, (_, i) => i),
      },
      { ...allTypesRecord(3), f32: Math.fround(Math.PI), f64: Number.MIN_VALUE, sym: '€1' },
    ];
    const queue = records({ schema: ALL_TYPES, capacity: 8 });
    for (const record of edges) {
      expect(codec.decode(codec.encode(record))).toEqual(record);
      expect(queue.tryPush(record)).toBe(true);
    }
    for (const record of edges) expect(queue.tryPop()).toEqual(record);
    expect(queue.tryPop()).toBeUndefined();
    // f32 rounds like Math.fround.
    expect(codec.decode(codec.encode({ ...edges[0], f32: 0.1 } as RecordOf<typeof ALL_TYPES>)).f32).toBe(
      Math.fround(0.1),
    );
  });

  it('a string reader stops at the first NUL or N bytes; a longer string is a RangeError naming the field', () => {
    const codec = compileSchema({ s: 'string:4' });
    const bytes = new Uint8Array([0x61, 0x62, 0, 0x63]);
    expect(codec.decode(bytes).s).toBe('ab');
    expect(codec.decode(new Uint8Array([0x61, 0x62, 0x63, 0x64])).s).toBe('abcd');
    for (const long of ['abcde', 'ab€', '日本']) {
      expect(() => codec.encode({ s: long })).toThrow(
        expect.objectContaining({
          name: 'RangeError',
          code: 'ERR_OUT_OF_RANGE',
          message: expect.stringContaining('record.s'),
        }),
      );
    }
    expect(() => codec.encode({ s: 'a\0b' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // A shorter string clears what a longer one left.
    const target = new Uint8Array(4);
    codec.encodeInto({ s: 'abcd' }, target);
    codec.encodeInto({ s: 'é' }, target);
    expect([...target]).toEqual([0xc3, 0xa9, 0, 0]);
  });

  it('rejects a bad field value with a TypeError/RangeError naming the field', () => {
    const queue = records({ schema: ALL_TYPES, capacity: 4 });
    const good = allTypesRecord(1);
    const cases: [keyof typeof ALL_TYPES, unknown, string, string][] = [
      ['i8', 128, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['u8', -1, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['i16', 1.5, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['u16', 65536, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['i32', 2 ** 31, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['u32', Number.NaN, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['u32', '7', 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['i64', 5, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['i64', 2n ** 63n, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['u64', -1n, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['u64', 2n ** 64n, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['f32', 1n, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['f64', '1.5', 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['ok', 1, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['sym', 42, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['sym', 'ABCDEFGHI', 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['blob', [1, 2], 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['blob', new Uint8Array(15), 'RangeError', 'ERR_OUT_OF_RANGE'],
    ];
    for (const [field, value, name, code] of cases) {
      const bad = { ...good, [field]: value } as RecordOf<typeof ALL_TYPES>;
      const expected = expect.objectContaining({ name, code, message: expect.stringContaining(`record.${field}`) });
      expect(() => queue.tryPush(bad), `${field} = ${String(value)}`).toThrow(expected);
      expect(() => queue.pushSync(bad)).toThrow(expected);
      expect(() => queue.tryPushMany([good, bad])).toThrow(expected);
    }
    for (const field of Object.keys(ALL_TYPES)) {
      const missing: Record<string, unknown> = { ...good };
      delete missing[field];
      expect(() => queue.tryPush(missing as RecordOf<typeof ALL_TYPES>)).toThrow(
        expect.objectContaining({
          name: 'TypeError',
          message: expect.stringMatching(`"record.${field}" field is missing`),
        }),
      );
    }
    expect(() => queue.tryPush(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // Nothing half-written was published, and the queue still works.
    expect(queue.stats()).toMatchObject({ pushedMessages: 0, depthBytes: 0 });
    expect(queue.tryPush(good)).toBe(true);
    expect(queue.tryPop()).toEqual(good);
  });

  it('rejects a bad schema, naming the field', () => {
    const bad: [unknown, string][] = [
      [{ a: 'u128' }, 'schema.a'],
      [{ a: 'string:0' }, 'schema.a'],
      [{ a: 'bytes:x' }, 'schema.a'],
      [{ a: 8 }, 'schema.a'],
      [{ '1a': 'u8' }, 'schema.1a'],
      [{}, 'schema'],
      [null, 'schema'],
    ];
    for (const [schema, label] of bad) {
      expect(() => compileSchema(schema as Schema)).toThrow(
        expect.objectContaining({ message: expect.stringContaining(label) }),
      );
    }
    expect(() => TypedQueue.create(uniqueName('tq'), { schema: { a: 'u8' }, capacity: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('options.capacity') }),
    );
  });
});

describe('TypedQueue of records', () => {
  it('holds at least `capacity` records from empty, wherever the ring indices are', () => {
    const schemas: Schema[] = [{ a: 'u8' }, EXAMPLE, ALL_TYPES, { a: 'f64', b: 'string:20' }, { blob: 'bytes:1000' }];
    for (const schema of schemas) {
      for (const capacity of [1, 3, 7, 100, 1000]) {
        const queue = records({ schema, capacity });
        expect(queue.capacity).toBeGreaterThanOrEqual(capacity);
        const size = queue.recordByteLength as number;
        expect(queue.capacityBytes).toBeGreaterThanOrEqual(recordCapacityBytes(size, capacity));
        const record = queue.schema?.create() as Record<string, unknown>;
        for (const start of [0, 1, 2, Math.floor(capacity / 2)]) {
          // Move the indices by `start` records, so the fill starts at another offset.
          for (let i = 0; i < start; i++) {
            expect(queue.tryPush(record as never)).toBe(true);
            expect(queue.tryPop()).toBeDefined();
          }
          let pushed = 0;
          while (queue.tryPush(record as never)) pushed++;
          expect(pushed, `${JSON.stringify(schema)} x ${capacity} from ${start}`).toBeGreaterThanOrEqual(capacity);
          expect(pushed).toBeGreaterThanOrEqual(queue.capacity as number);
          while (queue.tryPop() !== undefined) pushed--;
          expect(pushed).toBe(0);
        }
        queue.close();
      }
    }
  });

  it('popInto/tryPopInto/popIntoSync fill and return the caller’s object', async () => {
    const queue = records({ schema: EXAMPLE, capacity: 16 });
    const target = queue.createRecord();
    // The record type is inferred from the schema.
    const typed: { ts: number; id: bigint; ok: boolean; sym: string; blob: Uint8Array } = target;
    expect(typed.id).toBe(0n);
    // @ts-expect-error qty is a u32: a number, not a bigint
    expect(() => queue.tryPush({ ...target, qty: 1n })).toThrow(TypeError);
    // @ts-expect-error a field is missing
    expect(() => queue.tryPush({ ts: 1 })).toThrow(TypeError);
    const blob = target.blob;
    expect(queue.tryPopInto(target)).toBe(false);
    const make = (i: number) => ({
      ts: i,
      price: i / 2,
      qty: i,
      side: i & 1,
      id: BigInt(i),
      ok: true,
      sym: `S${i}`,
      blob: new Uint8Array(16).fill(i),
    });
    for (let i = 1; i <= 3; i++) queue.pushSync(make(i));
    expect(queue.tryPopInto(target)).toBe(true);
    expect(target).toEqual(make(1));
    expect(queue.popIntoSync(target, { timeoutMs: 1000 })).toBe(target);
    expect(target).toEqual(make(2));
    expect(await queue.popInto(target)).toBe(target);
    expect(target).toEqual(make(3));
    expect(target.blob).toBe(blob); // the bytes field was copied into, not replaced
    const before = threadsNow();
    const popping = queue.popInto(target, { timeoutMs: 5000 });
    await untilAsleep('shared-futex', 1, before);
    queue.tryPush(make(4));
    expect(await popping).toBe(target);
    expect(target).toEqual(make(4));
    expect(target.blob).toBe(blob);
  });

  it('async push/pop with backpressure, pushMany/tryPushMany, for await, stats, close ends the iterator', async () => {
    const queue = records({ schema: { n: 'u32' }, capacity: 4 });
    expect(queue.kind).toBe('records');
    const values = Array.from({ length: 40 }, (_, n) => ({ n }));
    const pushing = queue.pushMany(values, { timeoutMs: 10_000 });
    const got: number[] = [];
    const iterator = queue[Symbol.asyncIterator]();
    while (got.length < 40) {
      const step = await orStallAsync('parent consumer (async iterator)', got.length, (timeoutMs: number) =>
        nextWithin(iterator, timeoutMs),
      );
      expect(step.done).toBe(false);
      got.push((step.value as { n: number }).n);
    }
    await iterator.return?.(); // as `break` in a `for await` would
    await pushing;
    expect(got).toEqual(values.map((v) => v.n));
    const many = queue.tryPushMany(values);
    expect(many).toBeGreaterThanOrEqual(4);
    while (queue.tryPop()) {}
    const popped = queue.pop({ timeoutMs: 5000 });
    await queue.push({ n: 99 });
    expect(await popped).toEqual({ n: 99 });
    // Full, really: the ring may hold a record more than `capacity`, and a push into room would not wait.
    let filled = 0;
    while (queue.tryPush({ n: filled })) filled++;
    expect(filled).toBeGreaterThanOrEqual(queue.capacity as number);
    const beforePush = threadsNow();
    const blocked = queue.push({ n: 1000 }, { timeoutMs: 5000 });
    await untilAsleep('shared-futex', 1, beforePush);
    expect(queue.tryPop()).toEqual({ n: 0 });
    await blocked;
    expect(queue.stats()).toMatchObject({ pushedMessages: 40 + many + 1 + filled + 1 });
    await expect(records({ schema: { n: 'u32' }, capacity: 1 }).pop({ timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
    const beforeIterating = threadsNow();
    const iterating = (async () => {
      const seen: number[] = [];
      for await (const record of queue) seen.push(record.n);
      return seen;
    })();
    await untilAsleep('shared-futex', 1, beforeIterating); // it popped what there was, and waits for more
    queue.close();
    expect((await iterating).length).toBeGreaterThan(0);
    expect(() => queue.tryPush({ n: 1 })).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
    queue.close(); // twice is fine
  });

  it('a message of the wrong size is a clear error (and is dropped), not garbage', () => {
    const queue = records({ schema: EXAMPLE, capacity: 4 });
    const raw = track(RingBuffer.open(queue.name), RingBuffer);
    raw.tryPush(new Uint8Array(5));
    expect(() => queue.tryPop()).toThrow(
      expect.objectContaining({
        code: 'ERR_SHMKIT_RECORD_SIZE',
        message: expect.stringMatching(/5-byte message.*64 bytes/),
      }),
    );
    raw.tryPush(new Uint8Array(100));
    expect(() => queue.popIntoSync(queue.createRecord())).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_RECORD_SIZE' }),
    );
    expect(queue.tryPop()).toBeUndefined();
  });

  it('open with another schema fails with ERR_SHMKIT_SCHEMA_MISMATCH; the same schema opens', () => {
    const queue = records({ schema: { a: 'u32', b: 'f64' }, capacity: 4 });
    const same = track(TypedQueue.open(queue.name, { schema: { a: 'u32', b: 'f64' } }), TypedQueue);
    expect(same.fingerprint).toBe(queue.fingerprint);
    expect(same.capacity).toBe(queue.capacity);
    same.pushSync({ a: 1, b: 2 });
    expect(queue.tryPop()).toEqual({ a: 1, b: 2 });
    for (const schema of [{ b: 'f64', a: 'u32' }, { a: 'i32', b: 'f64' }, { a: 'u32' }] as Schema[]) {
      expect(() => TypedQueue.open(queue.name, { schema })).toThrow(
        expect.objectContaining({
          code: 'ERR_SHMKIT_SCHEMA_MISMATCH',
          message: expect.stringMatching(/different record schema .*not with the schema \{ .* \}/),
        }),
      );
    }
    expect(() => TypedQueue.open(queue.name, { codec: 'json' })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_SCHEMA_MISMATCH', message: expect.stringContaining("codec 'json'") }),
    );
    const plain = uniqueName('ring');
    track(RingBuffer.create(plain, { capacityBytes: 1024 }), RingBuffer);
    expect(() => TypedQueue.open(plain, { schema: { a: 'u8' } })).toThrow(
      expect.objectContaining({
        code: 'ERR_SHMKIT_SCHEMA_MISMATCH',
        message: expect.stringContaining('plain RingBuffer'),
      }),
    );
    const again = track(
      TypedQueue.openOrCreate(queue.name, { schema: { a: 'u32', b: 'f64' }, capacity: 99 }),
      TypedQueue,
    );
    expect(again.capacity).toBe(queue.capacity);
    expect(() => TypedQueue.openOrCreate(queue.name, { schema: { a: 'u8' }, capacity: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_SCHEMA_MISMATCH' }),
    );
    expect(() => TypedQueue.open(uniqueName('missing'), { schema: { a: 'u8' } })).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
  });

  it('a child produces records of every type, the parent consumes them; and the reverse', async () => {
    const count = 3000;
    const queue = records({ schema: ALL_TYPES, capacity: 64 });
    const child = runFixture('tq-all-types.mjs', [queue.name, 'produce', String(count)]);
    let i = 0;
    const target = queue.createRecord();
    // The first 50 through the async iterator (what `for await` calls), each step bounded.
    const iterator = queue[Symbol.asyncIterator]();
    for (; i < 50; i++) {
      const step = await orStallAsync('parent consumer (async iterator)', i, (timeoutMs: number) =>
        nextWithin(iterator, timeoutMs),
      );
      expect(step.done).toBe(false);
      expect(step.value).toEqual(allTypesRecord(i));
    }
    await iterator.return?.(); // as `break` in a `for await` would
    while (i < count) {
      const record = await orStallAsync('parent consumer', i, (timeoutMs: number) =>
        queue.popInto(target, { timeoutMs }),
      );
      expect(record).toEqual(allTypesRecord(i));
      i++;
    }
    ok(await child.done);

    // A 'single'-producer handle owns the tail it pushed: the reverse direction gets its own queue.
    const reverse = records({ schema: ALL_TYPES, capacity: 64 });
    const consumer = runFixture('tq-all-types.mjs', [reverse.name, 'consume', String(count)]);
    for (let j = 0; j < count; j++) {
      const record = allTypesRecord(j);
      await orStallAsync('parent producer', j, (timeoutMs: number) => reverse.push(record, { timeoutMs }));
    }
    const result = ok(await consumer.done);
    expect(result.messages[0]).toMatchObject({ received: count, mismatches: 0 });
  });
});

describe('TypedQueue.iterate', () => {
  it('an abort while the loop is parked ends it at once with an AbortError; a value pushed after it stays for the next reader', async () => {
    const queue = records({ schema: { n: 'u32' }, capacity: 8 });
    queue.tryPush({ n: 1 });
    queue.tryPush({ n: 2 });
    const controller = new AbortController();
    const got: number[] = [];
    const before = threadsNow();
    const looping = (async () => {
      for await (const record of queue.iterate({ signal: controller.signal })) got.push(record.n);
    })();
    await untilAsleep('shared-futex', 1, before); // drained both, parked for more
    expect(got).toEqual([1, 2]);
    const reason = new Error('shutting down');
    controller.abort(reason);
    // No push wakes it: only the abort can end this wait.
    await expect(looping).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    queue.tryPush({ n: 3 });
    const next = track(TypedQueue.open(queue.name, { schema: { n: 'u32' } }));
    expect(next.tryPop()).toEqual({ n: 3 });
  });

  it('an abort between two values takes no further one; break and close() end it quietly; timeoutMs bounds each wait', async () => {
    const queue = codecQueue<{ n: number }>({ codec: 'json', capacityBytes: 4096 });
    for (const n of [1, 2, 3, 4]) queue.tryPush({ n });
    const controller = new AbortController();
    const got: number[] = [];
    const aborting = (async () => {
      for await (const value of queue.iterate({ signal: controller.signal })) {
        got.push(value.n);
        controller.abort();
      }
    })();
    await expect(aborting).rejects.toBeInstanceOf(AbortError);
    expect(got).toEqual([1]);
    const collect = async (source: AsyncIterable<{ n: number }>) => {
      for await (const value of source) got.push(value.n);
    };
    await expect(collect(queue.iterate({ signal: AbortSignal.abort() }))).rejects.toBeInstanceOf(AbortError);
    expect(got).toEqual([1]);
    for await (const value of queue.iterate({ signal: new AbortController().signal })) {
      got.push(value.n);
      break;
    }
    expect(got).toEqual([1, 2]);
    // timeoutMs counts from the last value: the two there come first, then the wait times out.
    await expect(collect(queue.iterate({ timeoutMs: 20 }))).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(got).toEqual([1, 2, 3, 4]);
    const before = threadsNow();
    const looping = collect(queue.iterate({ signal: new AbortController().signal }));
    await untilAsleep('shared-futex', 1, before);
    queue.close();
    await looping; // ends quietly
    expect(() => queue.iterate({ timeoutMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => queue.iterate({ signal: 'stop' as never })).toThrow(TypeError);
  });
});

describe('TypedQueue with a codec', () => {
  it('v8: Map, Set, BigInt, Date and typed arrays cross processes, both ways', async () => {
    const queue = codecQueue({ codec: 'v8', capacityBytes: 4096 });
    expect(queue.kind).toBe('v8');
    expect(queue.capacity).toBeUndefined();
    const child = runFixture('tq-codec.mjs', [queue.name, 'v8', 'produce']);
    const got: unknown[] = [];
    for (const [i] of samples('v8').entries())
      got.push(await orStallAsync('parent consumer', i, (timeoutMs: number) => queue.pop({ timeoutMs })));
    ok(await child.done);
    expect(got).toEqual(samples('v8'));
    expect(got[0]).toBeInstanceOf(Map);
    expect(got[1]).toBeInstanceOf(Set);
    expect(got[3]).toBeInstanceOf(Date);
    expect(got[4]).toBeInstanceOf(Float64Array);
    expect(Object.is((got[4] as Float64Array)[1], -0)).toBe(true);
    // A decoded typed array owns its memory: it survives more traffic through the ring.
    const there = codecQueue({ codec: 'v8', capacityBytes: 4096 });
    const back = codecQueue({ codec: 'v8', capacityBytes: 4096 });
    const echo = runFixture('tq-codec.mjs', [there.name, 'v8', 'echo', String(samples('v8').length), back.name]);
    await there.pushMany(samples('v8'));
    const echoed: unknown[] = [];
    for (const [i] of samples('v8').entries())
      echoed.push(orStall('parent consumer', i, (timeoutMs: number) => back.popSync({ timeoutMs })));
    ok(await echo.done);
    expect(echoed).toEqual(samples('v8'));
    expect(got).toEqual(samples('v8'));
  });

  it('json, msgpack and a custom codec cross processes', async () => {
    for (const [codec, label] of [
      ['json', 'json'],
      ['msgpack', 'msgpack'],
      [box, 'box'],
    ] as const) {
      const queue = codecQueue<unknown>({ codec: codec as 'json', capacityBytes: 1024 });
      expect(queue.kind).toBe(label === 'box' ? 'custom' : label);
      // The msgpack producer runs without msgpackr's native extractor (as after
      // an install that skipped scripts), this process with it.
      const env = { ...process.env, MSGPACKR_NATIVE_ACCELERATION_DISABLED: 'true' };
      const child = runFixture('tq-codec.mjs', [queue.name, label, 'produce'], { env });
      const got: unknown[] = [];
      for await (const value of queue) {
        got.push(value);
        if (got.length === samples(label).length) break;
      }
      ok(await child.done);
      expect(got).toEqual(samples(label));
    }
  });

  it('json rejects what JSON cannot carry; raw passes bytes; a custom encode must return bytes', () => {
    const json = codecQueue({ codec: 'json', capacityBytes: 256 });
    expect(() => json.tryPush(undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => json.tryPush(1n)).toThrow(TypeError);
    expect(() => json.tryPush('x'.repeat(300))).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(json.tryPushMany([1, 2, 3])).toBe(3);
    expect([json.tryPop(), json.tryPop(), json.tryPop(), json.tryPop()]).toEqual([1, 2, 3, undefined]);
    expect(() => json.tryPopInto({})).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NOT_RECORDS' }));
    expect(() => json.createRecord()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NOT_RECORDS' }));

    const raw = track(TypedQueue.create(uniqueName('tq'), { codec: 'raw', capacityBytes: 256 }), TypedQueue);
    const bytes = Uint8Array.from([1, 2, 3]);
    raw.pushSync(bytes);
    const popped = raw.popSync();
    expect(popped).toEqual(bytes);
    expect(popped.buffer).not.toBe(bytes.buffer);
    expect(() => raw.tryPush('no' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));

    const broken = codecQueue<number>({
      codec: { encode: () => 'nope' as never, decode: () => 0 },
      capacityBytes: 256,
    });
    expect(() => broken.tryPush(1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => TypedQueue.create(uniqueName('tq'), { codec: 'yaml' as never, capacityBytes: 64 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('options.codec') }),
    );
  });

  it('open with another codec fails with ERR_SHMKIT_SCHEMA_MISMATCH naming the codec it was created with', () => {
    const json = codecQueue({ codec: 'json', capacityBytes: 256 });
    expect(() => TypedQueue.open(json.name, { codec: 'v8' })).toThrow(
      expect.objectContaining({
        code: 'ERR_SHMKIT_SCHEMA_MISMATCH',
        message: expect.stringMatching(/created with codec 'json'.*not with the codec 'v8'/),
      }),
    );
    expect(() => TypedQueue.open(json.name, { schema: { a: 'u8' } })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_SCHEMA_MISMATCH', message: expect.stringContaining("codec 'json'") }),
    );
    track(TypedQueue.open(json.name, { codec: 'json' }), TypedQueue).close();
    const custom = codecQueue({ codec: box, capacityBytes: 256 });
    track(TypedQueue.open(custom.name, { codec: { ...box } }), TypedQueue).close();
    expect(() => TypedQueue.open(custom.name, { codec: { ...box, name: 'other' } })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_SCHEMA_MISMATCH' }),
    );
    expect(() => TypedQueue.open(custom.name, { codec: 'raw' })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_SCHEMA_MISMATCH' }),
    );
    expect(() => TypedQueue.open(custom.name, { codec: 'raw', schema: { a: 'u8' } } as never)).toThrow(TypeError);
  });
});

describe('TypedQueue across processes', () => {
  it('SPSC: a child producer and a child consumer move 300,000 records (throughput logged)', async () => {
    const count = 300_000;
    const queue = records({ schema: SOAK_SCHEMA, capacity: 1024 });
    const consumer = runFixture('tq-consumer.mjs', [queue.name, String(count), String(count), 'popInto']);
    const producer = runFixture('tq-producer.mjs', [queue.name, '1', String(count), 'sync']);
    const [produced, result] = await Promise.all([producer.done.then(ok), consumer.done.then(ok)]);
    const report = result.messages[0] as {
      seen: Record<string, { count: number }>;
      corrupt: number;
      seconds: number;
    };
    expect(report.corrupt).toBe(0);
    expect(produced.messages[0]).toEqual({ done: count });
    expect(report.seen[1]?.count).toBe(count);
    console.log(
      `TypedQueue SPSC records (${queue.recordByteLength} B, each built and checked with bigint and string work): ${Math.round(count / report.seconds).toLocaleString('en')} records/s across processes, child start-up included`,
    );
  });

  it('MPMC soak: 4 producers x 2 consumers, 1,000,000 records: none lost, duplicated, corrupt or reordered', async () => {
    const perProducer = 250_000;
    const queue = records({ schema: SOAK_SCHEMA, capacity: 1024, producers: 'multi', consumers: 'multi' });
    const consumers = [0, 1].map((i) =>
      runFixture('tq-consumer.mjs', [
        queue.name,
        String(perProducer * 2),
        String(perProducer),
        i ? 'popSync' : 'mixed',
      ]),
    );
    const producers = [1, 2, 3, 4].map((id) =>
      runFixture('tq-producer.mjs', [queue.name, String(id), String(perProducer), id % 2 ? 'sync' : 'mixed']),
    );
    const results = await Promise.all([...producers, ...consumers].map((child) => child.done));
    for (const result of results) ok(result);
    const union = new Map<string, Uint8Array>();
    for (const consumer of results.slice(4)) {
      const report = consumer.messages[0] as {
        seen: Record<string, { count: number; duplicates: number; outOfOrder: number; bitmap: string }>;
        corrupt: number;
        firstError?: string;
      };
      expect(report.firstError).toBeUndefined();
      expect(report.corrupt).toBe(0);
      for (const [producer, entry] of Object.entries(report.seen)) {
        expect(entry.duplicates, `producer ${producer}`).toBe(0);
        expect(entry.outOfOrder, `producer ${producer}`).toBe(0);
        const bits = Buffer.from(entry.bitmap, 'base64');
        const all = union.get(producer) ?? new Uint8Array(bits.length);
        let overlap = 0;
        for (let i = 0; i < bits.length; i++) {
          overlap += (all[i] as number) & (bits[i] as number) ? 1 : 0;
          all[i] = (all[i] as number) | (bits[i] as number);
        }
        expect(overlap, `producer ${producer}: records delivered to both consumers`).toBe(0);
        union.set(producer, all);
      }
    }
    expect([...union.keys()].sort()).toEqual(['1', '2', '3', '4']);
    for (const [producer, bits] of union) {
      let missing = 0;
      for (let seq = 1; seq <= perProducer; seq++) if (!((bits[seq >> 3] as number) & (1 << (seq & 7)))) missing++;
      expect(missing, `producer ${producer}: records lost`).toBe(0);
    }
    expect(queue.stats()).toMatchObject({ pushedMessages: 4 * perProducer, poppedMessages: 4 * perProducer });
    expect(fs.existsSync(`/dev/shm/${queue.name.slice(1)}`)).toBe(true);
  });
});
