/**
 * The smaller defects of issue 10, one describe block each: every test here
 * failed before its fix.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serialize } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClosedError,
  capabilities,
  Fifo,
  futex,
  Mutex,
  PosixMessageQueue,
  RingBuffer,
  Semaphore,
  SharedMemory,
  SysvMessageQueue,
  signals,
  TypedQueue,
} from '../lib/index.js';
import { sysvTestKey } from './global-leaks.js';
import { asleepSince, threadsNow, track, uniqueName, untilAsleep, waitFor } from './helpers.js';

/** Expects `create` to throw a RangeError naming `options.mode`; removes whatever it made anyway. */
function refusesMode(create: () => unknown, remove: () => void): void {
  let made: unknown;
  try {
    made = create();
  } catch (error) {
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('"options.mode"') });
    return;
  } finally {
    if (made !== undefined) {
      (made as { close?(): void }).close?.();
      remove();
    }
  }
  expect.unreachable('mode was accepted');
}

describe('mode: permission bits only (0 to 0o777)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shmkit-mode-'));

  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it.each([
    ['0o7777', 0o7777],
    ['0o4600 (setuid)', 0o4600],
    ['0o2600 (setgid)', 0o2600],
    ['0o1600 (sticky)', 0o1600],
    ['0o1000', 0o1000],
  ])('every create refuses mode %s with a RangeError naming options.mode, and makes nothing', (_label, mode) => {
    const name = uniqueName('mode');
    const refuse = (create: () => unknown, remove: () => void) => refusesMode(create, remove);
    refuse(
      () => SharedMemory.create(name, { size: 64, mode }),
      () => SharedMemory.unlink(name),
    );
    refuse(
      () => SharedMemory.openOrCreate(name, { size: 64, mode }),
      () => SharedMemory.unlink(name),
    );
    refuse(
      () => Semaphore.create(name, { mode }),
      () => Semaphore.unlink(name),
    );
    refuse(
      () => Semaphore.openOrCreate(name, { mode }),
      () => Semaphore.unlink(name),
    );
    refuse(
      () => RingBuffer.create(name, { capacityBytes: 64, mode }),
      () => RingBuffer.unlink(name),
    );
    refuse(
      () => TypedQueue.create(name, { codec: 'json', capacityBytes: 64, mode }),
      () => TypedQueue.unlink(name),
    );
    refuse(
      () => Mutex.create(name, { mode }),
      () => Mutex.unlink(name),
    );
    const fifo = path.join(tmp, name.slice(1));
    refuse(
      () => {
        Fifo.create(fifo, { mode });
        return {};
      },
      () => Fifo.unlink(fifo),
    );
    if (capabilities.posixMq) {
      refuse(
        () => PosixMessageQueue.create(name, { mode }),
        () => PosixMessageQueue.unlink(name),
      );
    }
    const key = sysvTestKey();
    refuse(
      () => SysvMessageQueue.create({ key, mode }),
      () => SysvMessageQueue.open({ key }).remove(),
    );
    refuse(
      () => SysvMessageQueue.private({ mode }),
      () => {},
    );
    expect(fs.existsSync(`/dev/shm/${name.slice(1)}`)).toBe(false);
    expect(fs.existsSync(`/dev/shm/sem.${name.slice(1)}`)).toBe(false);
    expect(fs.existsSync(fifo)).toBe(false);
  });

  it('0o777 is still accepted (the umask applies), and set({ mode }) refuses more', () => {
    const shm = track(SharedMemory.create(uniqueName('mode'), { size: 64, mode: 0o777 }), SharedMemory);
    const umask = process.umask();
    expect(shm.stat().mode).toBe(0o777 & ~umask);
    const queue = track(SysvMessageQueue.private({ mode: 0o640 }), (q) => SysvMessageQueue.fromId(q.id).remove());
    expect(() => queue.set({ mode: 0o4640 })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('"options.mode"') }),
    );
    expect(queue.stat().mode).toBe(0o640);
  });
});

describe('names and FIFO paths with control characters are refused', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shmkit-names-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Expects a TypeError naming `argName` and the character; removes whatever was made anyway. */
  function refusesName(argName: string, code: string, create: () => unknown, remove: () => void): void {
    let made: unknown;
    try {
      made = create();
    } catch (error) {
      expect(error).toBeInstanceOf(TypeError);
      expect(error).toMatchObject({
        code: 'ERR_INVALID_ARG_VALUE',
        message: expect.stringMatching(new RegExp(`"${argName}" must not contain control characters.*U\\+${code}`)),
      });
      return;
    } finally {
      if (made !== undefined) {
        (made as { close?(): void }).close?.();
        remove();
      }
    }
    expect.unreachable(`a name with U+${code} was accepted`);
  }

  it.each([
    ['newline', '\n', '000A'],
    ['carriage return', '\r', '000D'],
    ['tab', '\t', '0009'],
    ['escape', '\x1b', '001B'],
    ['DEL', '\x7f', '007F'],
  ])('a %s in a name is refused by every create and open, naming the argument', (_label, char, code) => {
    const name = `${uniqueName('ctl')}${char}x`;
    const refuse = (create: () => unknown, remove: () => void) => refusesName('name', code, create, remove);
    refuse(
      () => SharedMemory.create(name, { size: 64 }),
      () => SharedMemory.unlink(name),
    );
    refuse(
      () => SharedMemory.open(name),
      () => {},
    );
    refuse(
      () => Semaphore.create(name),
      () => Semaphore.unlink(name),
    );
    refuse(
      () => RingBuffer.create(name, { capacityBytes: 64 }),
      () => RingBuffer.unlink(name),
    );
    refuse(
      () => TypedQueue.create(name, { codec: 'json', capacityBytes: 64 }),
      () => TypedQueue.unlink(name),
    );
    refuse(
      () => Mutex.create(name),
      () => Mutex.unlink(name),
    );
    if (capabilities.posixMq) {
      refuse(
        () => PosixMessageQueue.create(name),
        () => PosixMessageQueue.unlink(name),
      );
    }
    const fifo = path.join(tmp, `f${char}x`);
    refusesName(
      'path',
      code,
      () => {
        Fifo.create(fifo);
        return {};
      },
      () => Fifo.unlink(fifo),
    );
    expect(fs.readdirSync('/dev/shm').filter((entry) => entry.includes(name.slice(1)))).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('printable names, spaces and non-ASCII included, still work', () => {
    const shm = track(SharedMemory.create(`${uniqueName('ctl')} é ✓`, { size: 64 }), SharedMemory);
    expect(shm.size).toBe(64);
  });
});

describe('timeoutMs: at most 2^43 ms, or Infinity', () => {
  const TOO_LONG = [2 ** 43 + 1, Number.MAX_SAFE_INTEGER, 2 ** 64, 1e300, Number.MAX_VALUE];
  const refused = expect.objectContaining({
    code: 'ERR_OUT_OF_RANGE',
    message: expect.stringContaining('"options.timeoutMs"'),
  });

  it.each(TOO_LONG)('timeoutMs %d is refused by every wait, sync and async, before it waits', async (timeoutMs) => {
    const words = new Int32Array(track(SharedMemory.create(uniqueName('tmo'), { size: 64 }), SharedMemory).buffer);
    const sem = track(Semaphore.create(uniqueName('tmo'), { value: 1 }), Semaphore);
    const ring = track(RingBuffer.create(uniqueName('tmo'), { capacityBytes: 64 }), RingBuffer);
    ring.tryPush(Uint8Array.of(1));
    const queue = track(TypedQueue.create(uniqueName('tmo'), { codec: 'json', capacityBytes: 64 }), TypedQueue);
    queue.tryPush(1);
    const mutex = track(Mutex.create(uniqueName('tmo')), Mutex);
    const sysv = track(SysvMessageQueue.private(), (q) => SysvMessageQueue.fromId(q.id).remove());
    sysv.trySend('x');
    const options = { timeoutMs };
    // Each of these would return at once (a word that differs, a unit, a message, a free lock).
    const syncWaits: [string, () => unknown][] = [
      ['futex.waitSync', () => futex.waitSync(words, 0, 1, options)],
      ['Semaphore.waitSync', () => sem.waitSync(options)],
      ['RingBuffer.popSync', () => ring.popSync(options)],
      ['TypedQueue.popSync', () => queue.popSync(options)],
      ['Mutex.lockSync', () => mutex.lockSync(options)],
      ['SysvMessageQueue.receiveSync', () => sysv.receiveSync(options)],
    ];
    for (const [what, wait] of syncWaits) expect(wait, what).toThrow(refused);
    const asyncWaits: [string, () => Promise<unknown>][] = [
      ['futex.wait', () => futex.wait(words, 0, 1, options)],
      ['Semaphore.wait', () => sem.wait(options)],
      ['RingBuffer.pop', () => ring.pop(options)],
      ['TypedQueue.pop', () => queue.pop(options)],
      ['Mutex.lock', () => mutex.lock(options)],
      ['SysvMessageQueue.receive', () => sysv.receive(options)],
      ['signals.once', () => signals.once('SIGUSR2', options)],
    ];
    for (const [what, wait] of asyncWaits) await expect(wait(), what).rejects.toEqual(refused);
    // Nothing was taken by a refused wait.
    expect([sem.value, ring.stats().depthMessages, queue.stats().depthMessages, sysv.stat().messages]).toEqual([
      1, 1, 1, 1,
    ]);
  });

  it('2^43 ms and Infinity are accepted', async () => {
    const words = new Int32Array(track(SharedMemory.create(uniqueName('tmo'), { size: 64 }), SharedMemory).buffer);
    const sem = track(Semaphore.create(uniqueName('tmo'), { value: 2 }), Semaphore);
    for (const timeoutMs of [2 ** 43, Number.POSITIVE_INFINITY]) {
      expect(futex.waitSync(words, 0, 1, { timeoutMs })).toBe('not-equal');
      expect(await futex.wait(words, 0, 1, { timeoutMs })).toBe('not-equal');
    }
    sem.waitSync({ timeoutMs: 2 ** 43 });
    await sem.wait({ timeoutMs: 2 ** 43 });
    expect(sem.value).toBe(0);
  });
});

describe('futex on a view of a closed mapping: ERR_SHMKIT_CLOSED', () => {
  const closedError = expect.objectContaining({
    name: 'ClosedError',
    code: 'ERR_SHMKIT_CLOSED',
    message: expect.stringContaining('closed, resized or unmapped'),
  });

  it.each(['close', 'resize'])(
    'after %s, waitSync, wait and wake on an old view say the mapping is gone',
    async (how) => {
      const shm = track(SharedMemory.create(uniqueName('fx'), { size: 64 }), SharedMemory);
      const words = new Int32Array(shm.buffer);
      const tail = new Int32Array(shm.buffer, 32, 2);
      if (how === 'close') shm.close();
      else shm.resize(128);
      for (const view of [words, tail]) {
        for (const index of [0, 1]) {
          expect(() => futex.waitSync(view, index, 0, { timeoutMs: 0 })).toThrow(ClosedError);
          expect(() => futex.waitSync(view, index, 0, { timeoutMs: 0 })).toThrow(closedError);
          await expect(futex.wait(view, index, 0, { timeoutMs: 0 })).rejects.toEqual(closedError);
          expect(() => futex.wake(view, index)).toThrow(closedError);
        }
      }
    },
  );

  it('an index outside a live view is still a RangeError naming index', () => {
    const words = new Int32Array(track(SharedMemory.create(uniqueName('fx'), { size: 64 }), SharedMemory).buffer);
    expect(() => futex.waitSync(words, 16, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('"index"') }),
    );
  });
});

describe('codec errors: ERR_SHMKIT_ENCODE / ERR_SHMKIT_DECODE, naming the queue and the codec', () => {
  const codecQueue = <T>(
    codec: 'json' | 'v8' | 'msgpack' | { encode(v: T): Uint8Array; decode(b: Uint8Array): T; name?: string },
  ) => track(TypedQueue.create<T>(uniqueName('codec'), { codec: codec as never, capacityBytes: 4096 }), TypedQueue);
  /** A second handle on the queue's ring, to write bytes its codec cannot decode. */
  const rawRing = (queue: TypedQueue<unknown>) => track(RingBuffer.open(queue.name));
  const text = (value: string) => new TextEncoder().encode(value);

  function encodeError(queue: TypedQueue<unknown>, codec: string, label: string) {
    return expect.objectContaining({
      name: 'TypeError',
      code: 'ERR_SHMKIT_ENCODE',
      queueName: queue.name,
      codec,
      message: expect.stringContaining(`TypedQueue '${queue.name}': ${label} cannot encode`),
      cause: expect.any(Error),
    });
  }

  function decodeError(queue: TypedQueue<unknown>, codec: string, label: string) {
    return expect.objectContaining({
      code: 'ERR_SHMKIT_DECODE',
      queueName: queue.name,
      codec,
      message: expect.stringContaining(`TypedQueue '${queue.name}': ${label} cannot decode`),
      cause: expect.any(Error),
    });
  }

  it("a BigInt or a cycle into a 'json' queue, a function into a 'v8' queue: ERR_SHMKIT_ENCODE, nothing pushed", async () => {
    const json = codecQueue<unknown>('json');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const jsonError = encodeError(json, 'json', "codec 'json'");
    for (const value of [1n, { n: 2n }, cycle]) {
      expect(() => json.tryPush(value)).toThrow(jsonError);
      expect(() => json.pushSync(value)).toThrow(jsonError);
      await expect(json.push(value)).rejects.toEqual(jsonError);
    }
    expect(() => json.tryPush(1n)).toThrow(TypeError);
    try {
      json.tryPush(1n);
    } catch (error) {
      expect((error as Error).cause).toBeInstanceOf(TypeError);
      expect(((error as Error).cause as Error).message).toMatch(/BigInt/);
    }
    expect(() => json.tryPushMany([1, 2n])).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_ENCODE', message: expect.stringMatching(/^values\[1\]: /) }),
    );
    await expect(json.pushMany([1, cycle])).rejects.toMatchObject({ code: 'ERR_SHMKIT_ENCODE' });

    const v8 = codecQueue<unknown>('v8');
    const v8Error = encodeError(v8, 'v8', "codec 'v8'");
    for (const value of [() => 1, { f: () => 1 }, Symbol('s')]) {
      expect(() => v8.tryPush(value)).toThrow(v8Error);
      await expect(v8.push(value)).rejects.toEqual(v8Error);
    }

    const custom = codecQueue<number>({
      name: 'picky',
      encode: (value) => {
        if (value < 0) throw new RangeError('negative');
        return Uint8Array.of(value);
      },
      decode: (bytes) => bytes[0] as number,
    });
    expect(() => custom.tryPush(-1)).toThrow(
      encodeError(custom as TypedQueue<unknown>, 'custom:picky', "custom codec 'picky'"),
    );
    for (const queue of [json, v8, custom]) expect(queue.stats().pushedMessages).toBe(0);
    // What a codec does not take at all stays an argument error.
    expect(() => json.tryPush(undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('msgpack: a cycle is ERR_SHMKIT_ENCODE, a function an argument error; bytes that are not MessagePack are ERR_SHMKIT_DECODE and the messages behind stay', () => {
    const msgpack = codecQueue<unknown>('msgpack');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => msgpack.tryPush(cycle)).toThrow(encodeError(msgpack, 'msgpack', "codec 'msgpack'"));
    expect(() => msgpack.tryPush(() => 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(msgpack.stats().pushedMessages).toBe(0);
    const ring = rawRing(msgpack);
    const error = decodeError(msgpack, 'msgpack', "codec 'msgpack'");
    // 0xC1 is never used; 0x92 0x01 is an array of two with one element; then a value and trailing bytes.
    for (const bytes of [
      Uint8Array.of(0xc1),
      Uint8Array.of(0x92, 0x01),
      Uint8Array.of(0x01, 0x02),
      Uint8Array.of(0x07),
    ])
      expect(ring.tryPush(bytes)).toBe(true);
    expect(() => msgpack.tryPop()).toThrow(error);
    expect(() => msgpack.tryPop()).toThrow(error);
    expect(() => msgpack.tryPop()).toThrow(error);
    expect(msgpack.tryPop()).toBe(7);
  });

  it('an undecodable message is taken off and reported; the messages behind it stay, in order (json, from a view)', async () => {
    const json = codecQueue<unknown>('json');
    const ring = rawRing(json as TypedQueue<unknown>);
    const error = decodeError(json, 'json', "codec 'json'");
    for (const bytes of [text('1'), text('{not json'), Uint8Array.of(0xff, 0xfe), text('2'), text('3'), text('4')]) {
      expect(ring.tryPush(bytes)).toBe(true);
    }
    expect(json.tryPop()).toBe(1);
    expect(() => json.tryPop()).toThrow(error);
    expect(() => json.popSync()).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_DECODE', cause: expect.any(TypeError) }), // not UTF-8
    );
    expect(json.popSync()).toBe(2);
    expect(await json.pop()).toBe(3);
    expect(json.tryPop()).toBe(4);
    expect(json.tryPop()).toBeUndefined();
    expect(json.stats()).toMatchObject({ poppedMessages: 6, depthMessages: 0 });
  });

  it('the same from a copy (v8, custom), for a pop that had to wait, and through the iterator', async () => {
    const v8 = codecQueue<unknown>('v8');
    const ring = rawRing(v8 as TypedQueue<unknown>);
    const error = decodeError(v8, 'v8', "codec 'v8'");
    ring.tryPush(Uint8Array.of(1, 2, 3));
    ring.tryPush(v8Bytes({ ok: 1 }));
    await expect(v8.pop()).rejects.toEqual(error);
    expect(v8.popSync()).toEqual({ ok: 1 });

    // A pop asleep on an empty queue, woken by a bad message, then the good one behind it.
    const waiting = v8.pop({ timeoutMs: 30_000 });
    ring.tryPush(Uint8Array.of(0xff));
    ring.tryPush(v8Bytes('next'));
    await expect(waiting).rejects.toEqual(error);
    expect(await v8.pop()).toBe('next');

    // The iterator throws the error; a new one carries on with the message behind it.
    ring.tryPush(v8Bytes('a'));
    ring.tryPush(Uint8Array.of(9));
    ring.tryPush(v8Bytes('b'));
    const seen: unknown[] = [];
    await expect(
      (async () => {
        for await (const value of v8) seen.push(value);
      })(),
    ).rejects.toEqual(error);
    expect(seen).toEqual(['a']);
    for await (const value of v8) {
      seen.push(value);
      break;
    }
    expect(seen).toEqual(['a', 'b']);

    const custom = codecQueue<string>({
      encode: (value) => text(value),
      decode: (bytes) => {
        if (bytes[0] === 0x21) throw new Error('bang');
        return new TextDecoder().decode(bytes);
      },
    });
    const customRing = rawRing(custom as TypedQueue<unknown>);
    custom.tryPush('x');
    customRing.tryPush(text('!'));
    custom.tryPush('y');
    expect(custom.tryPop()).toBe('x');
    expect(() => custom.tryPop()).toThrow(
      expect.objectContaining({
        code: 'ERR_SHMKIT_DECODE',
        codec: 'custom:',
        message: expect.stringContaining('an unnamed custom codec cannot decode a 1-byte message'),
        cause: expect.objectContaining({ message: 'bang' }),
      }),
    );
    expect(custom.tryPop()).toBe('y');
  });
});

function v8Bytes(value: unknown): Uint8Array {
  return new Uint8Array(serialize(value));
}

describe('System V: an aborted send reports truthfully; a put-back has a deadline and reports failure', () => {
  const privateQueue = () => track(SysvMessageQueue.private(), (q) => SysvMessageQueue.fromId(q.id).remove());

  /**
   * Blocks this thread (so no waiter result can be delivered meanwhile) until
   * `condition` holds: a waiter thread acts on the queue while JS holds still.
   * The 10 s limit is a stall guard, not a timing threshold.
   */
  function holdUntil(condition: () => boolean, what: string): void {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`stalled waiting for ${what}`);
    }
  }

  /** A queue full with one 8-byte message, and a send of 'abcd' asleep in msgsnd on it. */
  async function sendAsleepOnFullQueue(signal?: AbortSignal) {
    const queue = privateQueue();
    queue.set({ maxBytes: 8 });
    expect(queue.trySend('12345678')).toBe(true);
    const before = threadsNow();
    const sending = queue.send('abcd', { type: 2, signal, timeoutMs: 60_000 });
    await untilAsleep('msgsnd', 1, before);
    return { queue, sending };
  }

  it.each(['abort', 'close'])(
    'a send whose msgsnd succeeded resolves even when %s comes before its result',
    async (how) => {
      const abort = new AbortController();
      const { queue, sending } = await sendAsleepOnFullQueue(abort.signal);
      const reader = SysvMessageQueue.fromId(queue.id);
      // Room for it; the waiter thread's msgsnd puts it on the queue while JS
      // holds still, then the abort (or close) lands before the result is delivered.
      expect(reader.tryReceive()?.data.toString()).toBe('12345678');
      holdUntil(() => reader.stat().messages === 1, 'the pending send to go through');
      if (how === 'abort') abort.abort();
      else queue.close();
      await expect(sending).resolves.toBeUndefined();
      expect(reader.tryReceive()).toMatchObject({ type: 2, data: Buffer.from('abcd') });
    },
  );

  it.each(['abort', 'close'])(
    'a send stopped by %s before it went rejects, and the message never appears',
    async (how) => {
      const abort = new AbortController();
      const { queue, sending } = await sendAsleepOnFullQueue(abort.signal);
      const reader = SysvMessageQueue.fromId(queue.id);
      if (how === 'abort') abort.abort();
      else queue.close();
      await expect(sending).rejects.toMatchObject(
        how === 'abort' ? { name: 'AbortError' } : { code: 'ERR_SHMKIT_CLOSED' },
      );
      // Settled only once the waiter thread gave up its msgsnd: room now cannot let it through.
      expect(reader.tryReceive()?.data.toString()).toBe('12345678');
      expect(reader.stat().messages).toBe(0);
    },
  );

  /** A receive that got message 'm' and was aborted while the queue was full again: its put-back must wait. */
  async function cancelledReceiveHoldingMessage() {
    const queue = privateQueue();
    queue.set({ maxBytes: 8 });
    const abort = new AbortController();
    const before = threadsNow();
    const receiving = queue.receive({ signal: abort.signal });
    await untilAsleep('msgrcv', 1, before);
    queue.trySend('m');
    holdUntil(() => queue.stat().messages === 0, 'the pending receive to take the message');
    // And to hand it over (out of msgrcv, into the mailbox JS takes from): a
    // receive cancelled between the two has its message put back by native
    // code instead, which reports a failure on stderr only (docs/messaging.md, a known gap).
    holdUntil(() => asleepSince('msgrcv', before) === 0, 'the receiving thread to leave msgrcv');
    expect(queue.trySend('12345678')).toBe(true);
    abort.abort();
    await expect(receiving).rejects.toMatchObject({ name: 'AbortError' });
    return queue;
  }

  it('a put-back to a full queue waits for room, then the message is back', async () => {
    const queue = await cancelledReceiveHoldingMessage();
    expect(queue.stat().messages).toBe(1);
    expect(queue.tryReceive()?.data.toString()).toBe('12345678');
    await waitFor(() => queue.stat().messages === 1, 'the put-back');
    expect(queue.tryReceive()?.data.toString()).toBe('m');
  });

  it('a put-back that fails (the queue was removed) is reported as a process warning, ERR_SHMKIT_PUT_BACK', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const queue = await cancelledReceiveHoldingMessage();
      SysvMessageQueue.fromId(queue.id).remove();
      await waitFor(() => warnings.some((w) => (w as { code?: string }).code === 'ERR_SHMKIT_PUT_BACK'), 'the warning');
      expect(warnings.find((w) => (w as { code?: string }).code === 'ERR_SHMKIT_PUT_BACK')).toMatchObject({
        type: 1,
        data: Buffer.from('m'),
        message: expect.stringMatching(
          /a message \(type 1, 1 bytes\) taken by a cancelled receive could not be put back/,
        ),
        cause: expect.objectContaining({ code: 'EIDRM' }),
      });
    } finally {
      process.off('warning', onWarning);
    }
  });
});
