import fs from 'node:fs';
import os from 'node:os';
import util from 'node:util';
import { describe, expect, it } from 'vitest';
import { SharedMemory } from '../lib/index.js';
import { runFixture, track, uniqueName } from './helpers.js';

describe('SharedMemory', () => {
  it('creates a segment in /dev/shm with mode 0o600 and opens it by name', () => {
    const name = uniqueName('shm');
    const shm = track(SharedMemory.create(name, { size: 10_000 }), SharedMemory);
    expect(shm.created).toBe(true);
    expect(shm.size).toBe(10_000);
    expect(fs.statSync(`/dev/shm${name}`).size).toBe(10_000);
    expect(shm.stat()).toEqual({ size: 10_000, mode: 0o600, uid: os.userInfo().uid, gid: os.userInfo().gid });
    new Uint8Array(shm.buffer).set([1, 2, 3], 100);
    const other = track(SharedMemory.open(name), SharedMemory);
    expect(other.created).toBe(false);
    expect(other.size).toBe(10_000);
    expect([...new Uint8Array(other.buffer, 100, 3)]).toEqual([1, 2, 3]);
  });

  it('adds the leading slash, as Python and C peers name segments without it', () => {
    const name = uniqueName('shm');
    track(SharedMemory.create(name.slice(1), { size: 64 }), SharedMemory);
    const same = track(SharedMemory.open(name), SharedMemory);
    expect(same.name).toBe(name);
    expect(same.size).toBe(64);
  });

  it('openOrCreate creates once, then opens with the existing size', () => {
    const name = uniqueName('shm');
    const first = track(SharedMemory.openOrCreate(name, { size: 4096 }), SharedMemory);
    const second = track(SharedMemory.openOrCreate(name, { size: 8192 }), SharedMemory);
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second.size).toBe(4096);
  });

  it('fails with EEXIST and ENOENT shaped like fs errors', () => {
    const name = uniqueName('shm');
    track(SharedMemory.create(name, { size: 16 }), SharedMemory);
    expect(() => SharedMemory.create(name, { size: 16 })).toThrow(
      expect.objectContaining({ code: 'EEXIST', errno: -os.constants.errno.EEXIST, syscall: 'shm_open' }),
    );
    const missing = uniqueName('missing');
    let error: NodeJS.ErrnoException | undefined;
    try {
      SharedMemory.open(missing);
    } catch (caught) {
      error = caught as NodeJS.ErrnoException;
    }
    expect(error?.code).toBe('ENOENT');
    expect(util.getSystemErrorName(error?.errno ?? 0)).toBe('ENOENT');
    expect(error?.message).toContain(missing);
    expect(() => SharedMemory.unlink(missing)).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'shm_unlink' }),
    );
  });

  it('maps read-only handles copy-on-write: local writes never reach the segment', () => {
    const name = uniqueName('shm');
    const writer = track(SharedMemory.create(name, { size: 4096 }), SharedMemory);
    const reader = track(SharedMemory.open(name, { readOnly: true }), SharedMemory);
    new Uint8Array(writer.buffer)[0] = 7;
    expect(new Uint8Array(reader.buffer)[0]).toBe(7);
    new Uint8Array(reader.buffer)[1] = 9;
    expect(new Uint8Array(writer.buffer)[1]).toBe(0);
    expect(() => reader.resize(8192)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('resize() changes the size, keeps the data and detaches old views', () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: 4096 }), SharedMemory);
    const before = new Uint8Array(shm.buffer);
    before[10] = 42;
    shm.resize(1 << 20);
    expect(before.length).toBe(0);
    expect(shm.size).toBe(1 << 20);
    expect(shm.stat().size).toBe(1 << 20);
    expect(new Uint8Array(shm.buffer)[10]).toBe(42);
  });

  it('close() detaches every view, is safe twice, and leaves the segment', () => {
    const name = uniqueName('shm');
    const shm = track(SharedMemory.create(name, { size: 4096 }), SharedMemory);
    const view = new Float64Array(shm.buffer);
    shm.close();
    shm.close();
    expect(shm.closed).toBe(true);
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
    expect(() => shm.buffer).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(true);
  });

  it('closes through Symbol.dispose (using)', () => {
    const name = uniqueName('shm');
    let view: Uint8Array;
    {
      using shm = SharedMemory.create(name, { size: 128 });
      view = new Uint8Array(shm.buffer);
      expect(view.length).toBe(128);
    }
    expect(view.length).toBe(0);
    SharedMemory.unlink(name);
  });

  it('shares 64 MiB written by a child process', async () => {
    const size = 64 << 20;
    const shm = track(SharedMemory.create(uniqueName('shm'), { size }), SharedMemory);
    const seed = 0x5eed1234;
    const { done } = runFixture('shm-writer.mjs', [shm.name, String(seed)]);
    const result = await done;
    expect(result.stderr).toBe('');
    expect(result.messages).toEqual([{ wrote: size }]);
    const words = new Uint32Array(shm.buffer);
    let mismatches = 0;
    for (let i = 0; i < words.length; i++) {
      if (words[i] !== (Math.imul(i, 2654435761) ^ seed) >>> 0) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('Atomics.add on a mapping is atomic across processes; plain += is not', async () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: 64 }), SharedMemory);
    const word = new Int32Array(shm.buffer, 0, 1);
    const count = 2_000_000;
    const run = (how: string) =>
      Promise.all([0, 1].map(() => runFixture('atomics-adder.mjs', [shm.name, String(count), how]).done));
    for (const result of await run('atomic')) expect(result.code).toBe(0);
    expect(Atomics.load(word, 0)).toBe(2 * count);
    Atomics.store(word, 0, 0);
    await run('plain');
    // Not a timing threshold: a racy read-modify-write may lose updates, never gain any.
    expect(Atomics.load(word, 0)).toBeLessThanOrEqual(2 * count);
  });

  it('maps EACCES for a process without permission', async () => {
    const name = uniqueName('shm');
    const semName = uniqueName('sem');
    track(SharedMemory.create(name, { size: 64, mode: 0o000 }), SharedMemory);
    const { Semaphore } = await import('../lib/index.js');
    const sem = Semaphore.create(semName, { mode: 0o000 });
    try {
      if (process.getuid?.() === 0) {
        // Root bypasses permission bits: ask an unprivileged uid to open them.
        const { done } = runFixture('open-as-other-user.mjs', [name, semName], { uid: 65534, gid: 65534 });
        const result = await done;
        expect(result.stderr).toBe('');
        const [codes] = result.messages as Array<Record<string, { code: string; syscall: string; message: string }>>;
        expect(codes?.shm).toMatchObject({ code: 'EACCES', syscall: 'shm_open' });
        expect(codes?.shm?.message).toContain(name);
        expect(codes?.sem).toMatchObject({ code: 'EACCES', syscall: 'sem_open' });
      } else {
        expect(() => SharedMemory.open(name)).toThrow(expect.objectContaining({ code: 'EACCES' }));
        expect(() => Semaphore.open(semName)).toThrow(expect.objectContaining({ code: 'EACCES' }));
      }
    } finally {
      sem.close();
      Semaphore.unlink(semName);
    }
  });
});

describe('SharedMemory arguments', () => {
  const name = uniqueName('args');
  it.each([
    [() => SharedMemory.create(42 as unknown as string, { size: 1 }), TypeError, /"name" argument must be a string/],
    [() => SharedMemory.create('/a/b', { size: 1 }), TypeError, /must not contain '\/'/],
    [() => SharedMemory.create('/', { size: 1 }), TypeError, /must name an object/],
    [() => SharedMemory.create('/..', { size: 1 }), TypeError, /must name an object/],
    [() => SharedMemory.create('/a\0b', { size: 1 }), TypeError, /NUL/],
    [() => SharedMemory.create(`/${'x'.repeat(256)}`, { size: 1 }), RangeError, /at most 255 bytes/],
    [() => SharedMemory.create(name, undefined as unknown as { size: number }), TypeError, /"options.size"/],
    [
      () => SharedMemory.create(name, null as unknown as { size: number }),
      TypeError,
      /"options" argument must be an object/,
    ],
    [() => SharedMemory.create(name, { size: 0 }), RangeError, /"options.size".*>= 1/],
    [() => SharedMemory.create(name, { size: -5 }), RangeError, /"options.size"/],
    [() => SharedMemory.create(name, { size: 1.5 }), RangeError, /"options.size"/],
    [
      () => SharedMemory.create(name, { size: '64' as unknown as number }),
      TypeError,
      /"options.size" argument must be a number/,
    ],
    [() => SharedMemory.create(name, { size: Number.NaN }), RangeError, /"options.size"/],
    [() => SharedMemory.create(name, { size: 1, mode: 0o10000 }), RangeError, /"options.mode"/],
    [() => SharedMemory.open(name, { readOnly: 'yes' as unknown as boolean }), TypeError, /"options.readOnly"/],
  ])('rejects bad input %#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });

  it('rejects a bad resize() size', () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: 64 }), SharedMemory);
    expect(() => shm.resize(0)).toThrow(RangeError);
    expect(shm.size).toBe(64);
  });
});

describe('leak check', () => {
  it('names carry the run id that global-leaks.ts looks for', () => {
    expect(process.env.SHMKIT_TEST_RUN).toMatch(/^\d+$/);
    expect(uniqueName('x')).toContain(`shmkit-test-${process.env.SHMKIT_TEST_RUN}-x-`);
  });
});
