import { describe, expect, it } from 'vitest';
import { AbortError, RingBuffer, SharedMemory } from '../lib/index.js';
import { HEADER_BYTES, OFFSET } from '../lib/structures/ring/format.js';
import { checkMessage, makeMessage, sizeFor } from './fixtures/ring-messages.mjs';
import { runFixture, seededRandom, threadsNow, track, uniqueName, untilAsleep } from './helpers.js';

const ring = (options: Parameters<typeof RingBuffer.create>[1] = { capacityBytes: 4096 }) =>
  track(RingBuffer.create(uniqueName('ring'), options), RingBuffer);

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('RingBuffer in one process', () => {
  it('rounds capacity up to a power of two and says how large a message may be', () => {
    const r = ring({ capacityBytes: 1000 });
    expect(r.capacityBytes).toBe(1024);
    expect(r.maxMessageBytes).toBe(1016);
    expect([r.producers, r.consumers]).toEqual(['single', 'single']);
    expect(ring({ capacityBytes: 1 }).capacityBytes).toBe(64);
  });

  it('keeps messages whole and in order across many wrap-arounds', () => {
    const r = ring({ capacityBytes: 256 });
    let pushed = 0;
    let popped = 0;
    for (let round = 0; round < 2000; round++) {
      while (r.tryPush(makeMessage(0, pushed + 1, sizeFor(pushed, 0, 60)))) pushed++;
      for (let m = r.tryPop(); m; m = r.tryPop()) {
        expect(checkMessage(m).seq).toBe(++popped);
      }
    }
    expect(popped).toBe(pushed);
    expect(pushed).toBeGreaterThan(5000);
    const stats = r.stats();
    expect(stats).toMatchObject({ pushedMessages: pushed, poppedMessages: popped, depthMessages: 0, depthBytes: 0 });
    expect(stats.highWaterBytes).toBeLessThanOrEqual(256);
  });

  it('takes empty messages and messages of exactly maxMessageBytes; refuses larger ones', () => {
    const r = ring({ capacityBytes: 128 });
    expect(r.tryPush(new Uint8Array(0))).toBe(true);
    expect(r.tryPop()).toEqual(new Uint8Array(0));
    const biggest = new Uint8Array(r.maxMessageBytes).fill(7);
    // Off offset 0, it waits behind a wrap marker until the consumer passes it.
    expect(r.tryPush(biggest)).toBe(false);
    expect(r.tryPop()).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      expect(r.tryPush(biggest)).toBe(true);
      expect(r.tryPush(bytes(1))).toBe(false);
      expect(r.tryPop()).toEqual(biggest);
    }
    expect(() => r.tryPush(new Uint8Array(r.maxMessageBytes + 1))).toThrow(RangeError);
    expect(() => r.tryPush(new Uint8Array(200))).toThrow(
      expect.objectContaining({
        code: 'ERR_OUT_OF_RANGE',
        message: expect.stringMatching(
          new RegExp(`200 bytes is too large for ring '${r.name}'.* at most 120 bytes.*capacityBytes: 256 takes it`),
        ),
      }),
    );
    expect(() => r.tryPush('text' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('claim/commit and peek/release move messages without copies', () => {
    const r = ring();
    const view = r.claim(3);
    expect(view).toBeInstanceOf(Uint8Array);
    view?.set([1, 2, 3]);
    expect(r.tryPop()).toBeUndefined(); // not published before commit()
    expect(() => r.tryPush(bytes(4))).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLAIM_PENDING' }));
    r.commit();
    r.claim(2)?.set([9, 9]);
    r.abort();
    r.claim(10)?.set([4, 5, 6]);
    expect(() => r.commit(11)).toThrow(RangeError);
    r.commit(2); // shorter than claimed
    const peeked = r.peek();
    expect(peeked && [...peeked]).toEqual([1, 2, 3]);
    expect(() => r.peek()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_PEEK_PENDING' }));
    expect(() => r.tryPop()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_PEEK_PENDING' }));
    r.release();
    expect(r.tryPop()).toEqual(bytes(4, 5));
    expect(r.peek()).toBeUndefined();
    expect(() => r.release()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NO_PEEK' }));
    expect(() => r.commit()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NO_CLAIM' }));
  });

  it('tryPushMany publishes what fits, in order', () => {
    const r = ring({ capacityBytes: 64 });
    const list = Array.from({ length: 10 }, (_, i) => bytes(i, i, i));
    const pushed = r.tryPushMany(list);
    expect(pushed).toBe(4); // 4 frames of 16 bytes fill 64
    expect([r.tryPop(), r.tryPop()]).toEqual([list[0], list[1]]);
  });

  it('pop waits for a push, times out with ETIMEDOUT, and aborts with an AbortError', async () => {
    const r = ring();
    const before = threadsNow();
    const waiting = r.pop({ timeoutMs: 5000 });
    await untilAsleep('shared-futex', 1, before);
    r.tryPush(bytes(5));
    expect(await waiting).toEqual(bytes(5));
    await expect(r.pop({ timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(() => r.popSync({ timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    const controller = new AbortController();
    const aborted = r.pop({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    expect(r.stats().consumerParks).toBeGreaterThan(0);
  });

  it('push waits for space (backpressure) until a pop frees it', async () => {
    const r = ring({ capacityBytes: 64 });
    while (r.tryPush(bytes(1, 2, 3, 4, 5, 6, 7, 8))) {}
    let pushed = false;
    const before = threadsNow();
    const pushing = r.push(bytes(42), { timeoutMs: 5000 }).then(() => {
      pushed = true;
    });
    await untilAsleep('shared-futex', 1, before);
    expect(pushed).toBe(false);
    r.tryPop();
    await pushing;
    expect(r.stats().producerParks).toBeGreaterThan(0);
    await expect(r.push(new Uint8Array(40), { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('close() rejects pending waits, ends async iteration, and is safe twice', async () => {
    const r = ring();
    r.tryPush(bytes(1));
    r.tryPush(bytes(2));
    const got: number[] = [];
    const iterating = (async () => {
      for await (const message of r) got.push(message[0] as number);
    })();
    const empty = ring();
    const pending = RingBuffer.open(empty.name);
    const before = threadsNow();
    const popping = pending.pop();
    await untilAsleep('shared-futex', 1, before);
    pending.close();
    await expect(popping).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
    r.close();
    r.close();
    await iterating;
    expect(got).toEqual([1, 2]);
    expect(() => r.tryPop()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
  });

  it('openOrCreate and open agree on the ring', () => {
    const name = uniqueName('ring');
    const a = track(RingBuffer.openOrCreate(name, { capacityBytes: 512, producers: 'multi' }), RingBuffer);
    const b = track(RingBuffer.openOrCreate(name, { capacityBytes: 64 }), RingBuffer);
    expect([b.capacityBytes, b.producers, b.consumers]).toEqual([512, 'multi', 'single']);
    a.tryPush(bytes(3));
    expect(b.tryPop()).toEqual(bytes(3));
  });

  it('rejects bad options before touching the system', () => {
    const name = uniqueName('ring');
    expect(() => RingBuffer.create(name, { capacityBytes: 0 })).toThrow(RangeError);
    expect(() => RingBuffer.create(name, { capacityBytes: 2 ** 31 })).toThrow(RangeError);
    expect(() => RingBuffer.create(name, { capacityBytes: 64, producers: 'many' as 'multi' })).toThrow(
      /options.producers/,
    );
    expect(() => RingBuffer.create(name, { capacityBytes: 64, spinUs: -1 })).toThrow(/options.spinUs/);
    expect(() => RingBuffer.open(uniqueName('none'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe('RingBuffer.iterate', () => {
  /** Runs `for await (const message of source)`, collecting first bytes, and calls `body` after each. */
  async function loop(source: AsyncIterable<Uint8Array>, got: number[], body: () => void = () => {}): Promise<void> {
    for await (const message of source) {
      got.push(message[0] as number);
      body();
    }
  }

  it('an abort while the loop is parked ends it at once with an AbortError; a message pushed after it stays in the ring', async () => {
    const r = ring();
    r.tryPush(bytes(1));
    r.tryPush(bytes(2));
    const controller = new AbortController();
    const got: number[] = [];
    const before = threadsNow();
    const looping = loop(r.iterate({ signal: controller.signal }), got);
    await untilAsleep('shared-futex', 1, before); // drained both, parked for more
    expect(got).toEqual([1, 2]);
    const reason = new Error('shutting down');
    controller.abort(reason);
    // No push wakes it: only the abort can end this wait.
    await expect(looping).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(await looping.catch((error) => error)).toBeInstanceOf(AbortError);
    r.tryPush(bytes(3));
    const next = track(RingBuffer.open(r.name));
    expect(next.tryPop()).toEqual(bytes(3));
    expect(r.stats()).toMatchObject({ pushedMessages: 3, poppedMessages: 3, consumerParks: 1 });
  });

  it('an abort between two messages takes no further message; an aborted signal takes none', async () => {
    const r = ring();
    for (const n of [1, 2, 3]) r.tryPush(bytes(n));
    const controller = new AbortController();
    const got: number[] = [];
    await expect(loop(r.iterate({ signal: controller.signal }), got, () => controller.abort())).rejects.toBeInstanceOf(
      AbortError,
    );
    expect(got).toEqual([1]);
    await expect(loop(r.iterate({ signal: AbortSignal.abort() }), got)).rejects.toBeInstanceOf(AbortError);
    expect(got).toEqual([1]);
    expect(r.tryPop()).toEqual(bytes(2));
    expect(r.tryPop()).toEqual(bytes(3));
  });

  it('break ends it quietly, and so does close(); timeoutMs bounds the wait for the next message', async () => {
    const r = ring();
    for (const n of [1, 2, 3]) r.tryPush(bytes(n));
    const got: number[] = [];
    for await (const message of r.iterate({ signal: new AbortController().signal })) {
      got.push(message[0] as number);
      break;
    }
    expect(got).toEqual([1]);
    // timeoutMs counts from the last message: the two there come first, then the wait times out.
    await expect(loop(r.iterate({ timeoutMs: 20 }), got)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(got).toEqual([1, 2, 3]);
    const before = threadsNow();
    const looping = loop(r.iterate({ signal: new AbortController().signal, timeoutMs: 60_000 }), got);
    await untilAsleep('shared-futex', 1, before);
    r.close();
    await looping; // ends quietly
    await loop(r.iterate(), got); // a closed handle: nothing, no error
    expect(got).toEqual([1, 2, 3]);
  });

  it('ref: false lets the process exit while the loop waits for the next message', async () => {
    const r = ring();
    for (const n of [1, 2, 3]) r.tryPush(bytes(n));
    // With a ref'd wait the child would never exit (and the test would time out).
    const { code, signal, stderr, messages } = await runFixture('ring-iterate-unref.mjs', [r.name]).done;
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(messages).toEqual([{ got: 1 }, { got: 2 }, { got: 3 }]);
    expect(r.stats()).toMatchObject({ poppedMessages: 3, consumerParks: 1 });
  });

  it('checks its options at the call, before the first message', () => {
    const r = ring();
    expect(() => r.iterate({ timeoutMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => r.iterate({ signal: 'stop' as never })).toThrow(TypeError);
    expect(() => r.iterate('fast' as never)).toThrow(TypeError);
  });
});

describe('RingBuffer against a hostile or broken peer', () => {
  it('refuses to open objects that are not valid rings', () => {
    const name = uniqueName('ring');
    const shm = SharedMemory.create(name, { size: 4096 });
    try {
      expect(() => RingBuffer.open(name)).toThrow(
        expect.objectContaining({
          code: 'ERR_SHMKIT_RING_FORMAT',
          message: expect.stringContaining(`'${name}' is a plain shared-memory segment, not a shmkit ring`),
        }),
      );
      const r = ring({ capacityBytes: 1024 });
      const good = new Uint8Array(SharedMemory.open(r.name).buffer.slice(0, HEADER_BYTES));
      const header = new Uint8Array(shm.buffer);
      const corrupt = (offset: number, value: number) => {
        header.set(good);
        new DataView(shm.buffer).setUint32(offset, value, true);
        return () => RingBuffer.open(name);
      };
      const formatError = (pattern: RegExp) =>
        expect.objectContaining({ code: 'ERR_SHMKIT_RING_FORMAT', message: expect.stringMatching(pattern) });
      expect(corrupt(OFFSET.magic, 0x584d4d53)).toThrow(formatError(/is not a shmkit ring: it starts with .*'SMMX'/));
      expect(corrupt(OFFSET.version, 99)).toThrow(
        formatError(/format version 99, and this shmkit reads version 1: open it with the shmkit release/),
      );
      expect(corrupt(OFFSET.capacity, 1000)).toThrow(
        formatError(/corrupt header: capacity 1000 is not a power of two/),
      );
      expect(corrupt(OFFSET.capacity, 8192)).toThrow(formatError(/corrupt header: .*does not fit.*create it again/));
      expect(corrupt(OFFSET.flags, 0x80)).toThrow(formatError(/unknown flags 0x80/));
      expect(corrupt(OFFSET.headerBytes, 64)).toThrow(formatError(/corrupt header: header size 64/));
      header.set(good);
      expect(RingBuffer.open(name).capacityBytes).toBe(1024);
    } finally {
      shm.close();
      SharedMemory.unlink(name);
    }
    const tiny = SharedMemory.create(uniqueName('ring'), { size: 16 });
    expect(() => RingBuffer.open(tiny.name)).toThrow(
      expect.objectContaining({
        code: 'ERR_SHMKIT_RING_FORMAT',
        message: expect.stringMatching(
          /is not a shmkit ring: the object is 16 bytes, smaller than the 512-byte header/,
        ),
      }),
    );
    tiny.close();
    tiny.unlink();
  });

  it('random bytes in the data area or indices give clear errors, never a crash or a bad read', () => {
    const r = ring({ capacityBytes: 1024 });
    const raw = SharedMemory.open(r.name);
    const words = new Int32Array(raw.buffer);
    const data = new Uint8Array(raw.buffer, HEADER_BYTES);
    const random = seededRandom();
    let errors = 0;
    let messages = 0;
    for (let trial = 0; trial < 500; trial++) {
      for (let i = 0; i < data.length; i++) data[i] = random.int(256);
      Atomics.store(words, OFFSET.head / 4, random.int(2 ** 32) | 0);
      Atomics.store(words, OFFSET.tail / 4, random.int(2 ** 32) | 0);
      const victim = RingBuffer.open(r.name);
      try {
        for (let m = victim.tryPop(); m; m = victim.tryPop()) messages++;
      } catch (error) {
        expect(error).toMatchObject({
          code: 'ERR_SHMKIT_RING_CORRUPT',
          message: expect.stringMatching(new RegExp(`^ring '${r.name}' is corrupt: .*unlink it and create it again$`)),
        });
        errors++;
      } finally {
        victim.close();
      }
    }
    expect(errors).toBeGreaterThan(400);
    raw.close();
    void messages;
  });
});

describe('RingBuffer across processes', () => {
  it('SPSC: 200,000 messages of 0..300 bytes arrive whole, in order, once (pop and peek)', async () => {
    for (const how of ['pop', 'peek']) {
      const r = ring({ capacityBytes: 16384 });
      const count = 100_000;
      const consumer = runFixture('ring-consumer.mjs', [r.name, String(count), how]);
      const producer = runFixture('ring-producer.mjs', [r.name, '1', String(count), '0', '284', 'mixed']);
      const [produced, consumed] = await Promise.all([producer.done, consumer.done]);
      expect(produced.stderr).toBe('');
      expect(consumed.stderr).toBe('');
      expect(consumed.messages[0]).toEqual({
        seen: { 1: { count, sum: (count * (count + 1)) / 2, first: 1, last: count } },
      });
    }
  });

  it('MPMC soak: 4 producers x 2 consumers, 1,000,000 messages: none lost, duplicated, corrupt or reordered', async () => {
    const r = ring({ capacityBytes: 1 << 16, producers: 'multi', consumers: 'multi' });
    const perProducer = 250_000;
    const consumers = [0, 1].map(() => runFixture('ring-consumer.mjs', [r.name, String(perProducer * 2)]));
    const producers = [1, 2, 3, 4].map((id) =>
      runFixture('ring-producer.mjs', [r.name, String(id), String(perProducer), '0', '48', id % 2 ? 'push' : 'mixed']),
    );
    const results = await Promise.all([...producers, ...consumers].map((child) => child.done));
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    const totals: Record<string, { count: number; sum: number }> = {};
    for (const consumer of results.slice(4)) {
      const { seen } = consumer.messages[0] as { seen: Record<string, { count: number; sum: number }> };
      for (const [producer, entry] of Object.entries(seen)) {
        totals[producer] ??= { count: 0, sum: 0 };
        const total = totals[producer];
        total.count += entry.count;
        total.sum += entry.sum;
      }
    }
    const expected = { count: perProducer, sum: (perProducer * (perProducer + 1)) / 2 };
    expect(totals).toEqual({ 1: expected, 2: expected, 3: expected, 4: expected });
    expect(r.stats()).toMatchObject({ pushedMessages: 4 * perProducer, poppedMessages: 4 * perProducer });
  });
});

describe('RingBuffer popInto', () => {
  it('copies into the caller buffer, says -1 when empty, and keeps a message that does not fit', async () => {
    const r = ring();
    const target = new Uint8Array(8);
    expect(r.tryPopInto(target)).toBe(-1);
    r.tryPush(bytes(1, 2, 3));
    expect(r.tryPopInto(target)).toBe(3);
    expect([...target.subarray(0, 3)]).toEqual([1, 2, 3]);
    r.tryPush(new Uint8Array(9));
    expect(() => r.tryPopInto(target)).toThrow(RangeError);
    expect(() => r.tryPopInto(target)).toThrow(/has 9 bytes and target holds only 8/);
    expect(r.tryPop()?.length).toBe(9); // still there
    const before = threadsNow();
    const popping = r.popInto(target, { timeoutMs: 5000 });
    await untilAsleep('shared-futex', 1, before);
    r.tryPush(bytes(7));
    expect(await popping).toBe(1);
    expect(() => r.popIntoSync(target, { timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    r.tryPush(bytes(5));
    expect(() => r.popSync({ timeoutMs: -1 })).toThrow(RangeError); // checked even when a message waits
    expect(r.tryPop()).toEqual(bytes(5));
  });
});

describe('RingBuffer locks on multi rings', () => {
  it('a held side lock makes try* fail, timeouts apply, and async waits leave the event loop free', async () => {
    const a = ring({ capacityBytes: 4096, producers: 'multi', consumers: 'multi' });
    const b = track(RingBuffer.open(a.name), RingBuffer);
    const view = a.claim(4); // holds the producer lock until commit()
    expect(view).toBeDefined();
    expect(b.tryPush(bytes(1))).toBe(false);
    expect(() => b.pushSync(bytes(1), { timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    let settled = false;
    const pushing = b.push(bytes(2), { timeoutMs: 5000 }).finally(() => {
      settled = true;
    });
    // The loop runs while push() waits for the lock: four timer ticks pass
    // with the push still pending (a blocked loop would time the test out).
    let ticks = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (++ticks < 4) return;
        clearInterval(timer);
        resolve();
      }, 5);
    });
    expect(settled).toBe(false);
    view?.set([9, 9, 9, 9]);
    a.commit();
    await pushing;
    expect([a.tryPop(), a.tryPop()]).toEqual([bytes(9, 9, 9, 9), bytes(2)]);
  });
});
