import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { futex, SharedMemory } from '../lib/index.js';
import { nextMessage, runFixture, threadsNow, track, uniqueName, untilAsleep } from './helpers.js';

// tmpfs is sparse: ftruncate to 4 GiB + a page costs no memory, and these
// tests touch only a few pages of it.
const PAGE = SharedMemory.pageSize;
const LARGE = 2 ** 32 + PAGE;
const FOUR_GIB = 2 ** 32;

function tooLarge(shm: SharedMemory): unknown {
  try {
    return shm.buffer;
  } catch (error) {
    return error;
  }
}

// The segment is above what one ArrayBuffer can hold on this Node: shm.buffer says so.
function expectWindowsOnly(shm: SharedMemory): void {
  expect(shm.size).toBe(LARGE);
  if (LARGE <= bufferConstants.MAX_LENGTH) {
    expect(shm.buffer.byteLength).toBe(LARGE); // a newer Node maps it whole
    return;
  }
  const error = tooLarge(shm);
  expect(error).toBeInstanceOf(RangeError);
  expect(error).toMatchObject({ code: 'ERR_SHMKIT_TOO_LARGE' });
  expect((error as Error).message).toContain(shm.name);
  expect((error as Error).message).toContain('shm.map({ offset, length })');
}

function writePattern(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 1) & 255;
}

describe('SharedMemory above 4 GiB', () => {
  it('create, open and resize past 4 GiB no longer abort the process (run in a child)', async () => {
    const [name, resizedName] = [uniqueName('shm'), uniqueName('shm')];
    const { done } = runFixture('shm-large-lifecycle.mjs', [name, resizedName], { execArgv: ['--expose-gc'] });
    const result = await done;
    expect({ code: result.code, signal: result.signal, stderr: result.stderr }).toEqual({
      code: 0,
      signal: null,
      stderr: '',
    });
    expect(result.messages).toHaveLength(1);
    const report = result.messages[0] as { sizes: number[]; buffers: string[]; native: string[] };
    // Node 20 refuses ArrayBuffers above 4 GiB; a Node that does not maps it whole.
    const whole = LARGE > bufferConstants.MAX_LENGTH ? 'RangeError ERR_SHMKIT_TOO_LARGE' : 'no error';
    expect(report.sizes).toEqual([LARGE, LARGE, LARGE]);
    expect(report.buffers).toEqual(Array(3).fill(whole));
    expect(report.native).toEqual(Array(50).fill(whole));
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
    expect(fs.existsSync(`/dev/shm${resizedName}`)).toBe(false);
  });

  it('create makes a sparse segment of 4 GiB + a page, read and written through windows by two processes', async () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: LARGE }), SharedMemory);
    expect(shm.created).toBe(true);
    expect(fs.statSync(`/dev/shm${shm.name}`).size).toBe(LARGE);
    expectWindowsOnly(shm);

    // This process's window: the page past 4 GiB.
    const window = shm.map({ offset: FOUR_GIB, length: PAGE });
    expect(window.byteLength).toBe(PAGE);
    const bytes = new Uint8Array(window);
    writePattern(bytes.subarray(0, PAGE / 2));
    const words = new Int32Array(window);
    const last = words.length - 1;
    // Atomics and futex work on a window as on shm.buffer: sleep on its last word...
    const before = threadsNow();
    const woken = futex.wait(words, last, 0, { timeoutMs: 60_000 });
    await untilAsleep('shared-futex', 1, before);
    // ...which the child, through a window of its own that straddles 4 GiB, sets and wakes.
    const { done } = runFixture('shm-window-peer.mjs', [shm.name, String(FOUR_GIB - PAGE), String(2 * PAGE)]);
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.messages).toEqual([{ patternSeen: true, woken: 1 }]);
    expect(await woken).toBe('ok');
    expect(Atomics.load(words, last)).toBe(1);
    for (let i = 0; i < PAGE / 2 - 4; i++) expect(bytes[PAGE / 2 + i]).toBe(255 - ((i * 7 + 1) & 255));
  });

  it('open of an existing segment above 4 GiB sizes it by fstat and serves windows', () => {
    const name = uniqueName('shm');
    track(SharedMemory.create(name, { size: PAGE }), SharedMemory);
    fs.truncateSync(`/dev/shm${name}`, LARGE); // grown by a peer, here by hand
    const shm = track(SharedMemory.open(name), SharedMemory);
    expect(shm.created).toBe(false);
    expectWindowsOnly(shm);
    const low = new Uint8Array(shm.map({ offset: 0, length: PAGE }));
    const high = new Uint8Array(shm.map({ offset: FOUR_GIB, length: PAGE }));
    low[0] = 11;
    high[PAGE - 1] = 22;
    // A second window over the same page of the same handle sees the write.
    expect(new Uint8Array(shm.map({ offset: FOUR_GIB, length: PAGE }))[PAGE - 1]).toBe(22);
    // The writes are in the object itself: read(2) at those file offsets finds them.
    const fd = fs.openSync(`/dev/shm${name}`, 'r');
    try {
      const byte = Buffer.alloc(1);
      fs.readSync(fd, byte, 0, 1, 0);
      expect(byte[0]).toBe(11);
      fs.readSync(fd, byte, 0, 1, FOUR_GIB + PAGE - 1);
      expect(byte[0]).toBe(22);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('resize past 4 GiB detaches the old buffer, and back below maps it whole again', () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: 2 * PAGE }), SharedMemory);
    const small = new Uint8Array(shm.buffer);
    small[0] = 5;
    shm.resize(LARGE);
    expect(small.length).toBe(0);
    expect(fs.statSync(`/dev/shm${shm.name}`).size).toBe(LARGE);
    expectWindowsOnly(shm);
    const head = new Uint8Array(shm.map({ offset: 0, length: PAGE }));
    const tail = new Uint8Array(shm.map({ offset: FOUR_GIB, length: PAGE }));
    expect(head[0]).toBe(5);
    tail[0] = 9;
    // Shrinking detaches the windows past the new end (touching them would raise SIGBUS).
    shm.resize(2 * PAGE);
    expect(tail.length).toBe(0);
    expect(head.length).toBe(PAGE);
    expect(shm.size).toBe(2 * PAGE);
    expect(new Uint8Array(shm.buffer)[0]).toBe(5);
  });

  it('a read-only handle maps windows copy-on-write: its writes stay in this process', () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: LARGE }), SharedMemory);
    const reader = track(SharedMemory.open(shm.name, { readOnly: true }), SharedMemory);
    new Uint8Array(shm.map({ offset: FOUR_GIB, length: PAGE }))[0] = 1;
    const mine = new Uint8Array(reader.map({ offset: FOUR_GIB, length: PAGE }));
    expect(mine[0]).toBe(1);
    mine[1] = 2;
    expect(new Uint8Array(shm.map({ offset: FOUR_GIB, length: PAGE }))[1]).toBe(0);
  });

  it('rejects bad windows with a RangeError or TypeError naming the argument', () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: LARGE }), SharedMemory);
    const bad = (window: unknown, argument: string, Kind: typeof RangeError | typeof TypeError = RangeError) => {
      let error: unknown;
      try {
        shm.map(window as { offset: number; length: number });
      } catch (caught) {
        error = caught;
      }
      expect(error, JSON.stringify(window)).toBeInstanceOf(Kind);
      expect((error as Error).message).toContain(`"${argument}"`);
    };
    bad({ offset: 1, length: PAGE }, 'options.offset');
    bad({ offset: PAGE / 2, length: PAGE }, 'options.offset');
    bad({ offset: -PAGE, length: PAGE }, 'options.offset');
    bad({ offset: 1.5, length: PAGE }, 'options.offset');
    bad({ offset: '0', length: PAGE }, 'options.offset', TypeError);
    bad({ offset: 0, length: 0 }, 'options.length');
    bad({ offset: 0, length: 0.5 }, 'options.length');
    if (LARGE > bufferConstants.MAX_LENGTH) bad({ offset: 0, length: LARGE }, 'options.length'); // more than one ArrayBuffer holds
    bad({ offset: FOUR_GIB, length: 2 * PAGE }, 'options.length'); // past the end
    bad({ offset: LARGE, length: 1 }, 'options.length');
    bad({ length: PAGE }, 'options.offset', TypeError);
    bad(undefined, 'options.offset', TypeError);
    bad(null, 'options', TypeError);
    // The largest window there is still maps.
    expect(shm.map({ offset: FOUR_GIB, length: PAGE }).byteLength).toBe(PAGE);
    expect(() => shm.unmap(new ArrayBuffer(8))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('close detaches every window and rejects the futex waits pending on them', async () => {
    const shm = SharedMemory.create(uniqueName('shm'), { size: LARGE });
    const name = shm.name;
    try {
      const windows = [
        shm.map({ offset: 0, length: PAGE }),
        shm.map({ offset: FOUR_GIB, length: PAGE }),
        shm.map({ offset: FOUR_GIB - PAGE, length: 2 * PAGE }),
      ];
      const view = new Int32Array(windows[1] as ArrayBuffer);
      const before = threadsNow();
      const pending = futex.wait(view, 0, 0);
      await untilAsleep('shared-futex', 1, before);
      shm.close();
      await expect(pending).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
      expect(windows.map((window) => window.byteLength)).toEqual([0, 0, 0]);
      expect(view.length).toBe(0);
      expect(() => shm.map({ offset: 0, length: PAGE })).toThrow(
        expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }),
      );
    } finally {
      shm.close();
      SharedMemory.unlink(name);
    }
  });

  it('unmap(window) detaches one window early and rejects its waits; twice does nothing', async () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: LARGE }), SharedMemory);
    const kept = shm.map({ offset: 0, length: PAGE });
    const dropped = shm.map({ offset: FOUR_GIB, length: PAGE });
    const before = threadsNow();
    const pending = futex.wait(new Int32Array(dropped), 0, 0);
    await untilAsleep('shared-futex', 1, before);
    shm.unmap(dropped);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
    expect(dropped.byteLength).toBe(0);
    shm.unmap(dropped);
    expect(kept.byteLength).toBe(PAGE);
  });
});

describe('a peer that shrinks a segment', () => {
  // A kernel rule, not something shmkit can prevent: pages of a MAP_SHARED
  // mapping past the object's end raise SIGBUS when touched. Documented in
  // docs/api.md; rings defend by checking the object's size on open.
  it('kills a process that touches the cut-off pages with SIGBUS; the shrinking process survives', async () => {
    const shm = track(SharedMemory.create(uniqueName('shm'), { size: 2 * PAGE }), SharedMemory);
    const { child, done } = runFixture('shm-shrink-victim.mjs', [shm.name]);
    await nextMessage(child, (message) => message === 'mapped');
    shm.resize(PAGE); // ftruncate(2) under the child's two-page mapping
    child.send('shrunk');
    const result = await done;
    expect(result.messages).not.toContainEqual(expect.objectContaining({ survived: true }));
    expect(result.signal).toBe('SIGBUS');
    // This process remapped on resize and still reads its page.
    new Uint8Array(shm.buffer)[PAGE - 1] = 3;
    expect(new Uint8Array(shm.buffer)[PAGE - 1]).toBe(3);
  });
});
