/**
 * The smaller defects of issue 10, one describe block each: every test here
 * failed before its fix.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
import { track, uniqueName } from './helpers.js';

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
    message: expect.stringContaining('closed or resized'),
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
