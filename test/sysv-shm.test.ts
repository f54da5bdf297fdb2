import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClosedError, futex, IPC_PRIVATE, SysvSharedMemory } from '../lib/index.js';
import { sysvTestKey } from './global-leaks.js';
import { requireOrSkip, runFixture, track, untilAsleep, waitFor } from './helpers.js';
import { HAVE_SYSV_IPC, ipcsInfo, ipcsRow, python, startPeer } from './sysv-peer.js';

/** Removes the segment when the test ends (an already removed one is fine: track() ignores EIDRM). */
const removeAfter = (shm: SysvSharedMemory) => track(shm, () => SysvSharedMemory.fromId(shm.id).remove());

const create = (size: number, mode?: number) =>
  removeAfter(SysvSharedMemory.create(sysvTestKey(), { size, ...(mode === undefined ? {} : { mode }) }));

/** The permissions /proc/self/maps shows for this process's attachments of the segment of `key`. */
function mappedPerms(key: number): string[] {
  const name = `/SYSV${(key >>> 0).toString(16).padStart(8, '0')}`;
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes(name))
    .map((line) => line.split(/\s+/)[1] as string);
}

describe('SysvSharedMemory', () => {
  it('create/open/attach/stat: nattch, cpid and lpid across processes, as ipcs -m -i shows them', async () => {
    const shm = create(5000);
    expect(shm.created).toBe(true);
    const bytes = new Uint8Array(shm.attach());
    expect(bytes.length).toBe(5000);
    bytes[0] = 42;
    bytes[4999] = 7;
    const peer = await startPeer();
    expect(await peer.ask({ cmd: 'shm-attach', key: shm.key })).toMatchObject({ byte0: 42, nattch: 2 });
    const stat = shm.stat();
    expect(stat).toMatchObject({ id: shm.id, key: shm.key, size: 5000, nattch: 2, cpid: process.pid, lpid: peer.pid });
    expect(stat.mode).toBe(0o600);
    expect(stat.removed).toBe(false);
    expect(stat.atime).toBeGreaterThan(0);
    expect(stat.ctime % 1000).toBe(0); // seconds from the kernel, in ms
    // Spawning ipcs forks this process, and fork(2) copies attachments: the
    // fork's attach and exec's detach make ipcs the last pid (lpid).
    const { fields } = ipcsInfo('-m', shm.id);
    const after = shm.stat();
    expect(Number(fields.bytes)).toBe(after.size);
    expect(Number(fields.nattch)).toBe(after.nattch);
    expect(Number(fields.cpid)).toBe(after.cpid);
    expect(Number(fields.lpid)).toBe(after.lpid);
    expect(Number.parseInt(fields.mode as string, 8) & 0o777).toBe(after.mode);
    await peer.ask({ cmd: 'shm-write', at: 4999, value: 9 });
    expect(bytes[4999]).toBe(9);
    expect(await peer.ask({ cmd: 'shm-detach' })).toEqual({ reply: 'shm-detach', nattch: 1 });
    expect(shm.stat()).toMatchObject({ nattch: 1, lpid: peer.pid });
    expect(shm.stat().dtime).toBeGreaterThan(0);
    const again = SysvSharedMemory.open(shm.key);
    expect([again.id, again.created]).toEqual([shm.id, false]);
    again.close();
    expect(() => SysvSharedMemory.create(shm.key, { size: 10 })).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'shmget' }),
    );
  });

  it('IPC_PRIVATE makes a keyless segment that a child reaches by id', async () => {
    const shm = removeAfter(SysvSharedMemory.create(IPC_PRIVATE, { size: 64, mode: 0o640 }));
    expect([shm.key, shm.created, shm.stat().mode, shm.stat().key]).toEqual([0, true, 0o640, 0]);
    new Uint8Array(shm.attach())[0] = 5;
    const peer = await startPeer();
    expect(await peer.ask({ cmd: 'shm-attach', id: shm.id })).toMatchObject({ byte0: 5, nattch: 2 });
  });

  it('Atomics and futex wait/wake work across processes on a System V segment', async () => {
    const shm = create(64);
    const words = new Int32Array(shm.attach(), 0, 4);
    const peer = await startPeer();
    await peer.ask({ cmd: 'shm-attach', key: shm.key });
    const woken = peer.ask({ cmd: 'shm-futex-wait' });
    await untilAsleep('shared-futex', 1, peer.pid);
    Atomics.store(words, 0, 1);
    expect(futex.wake(words, 0, 1)).toBe(1);
    expect(await woken).toMatchObject({ result: 'ok', word: 1 });
  });

  it('remove() while attached: the key goes at once, the memory with the last detach (ipcs shows "dest")', async () => {
    const shm = create(4096);
    const bytes = new Uint8Array(shm.attach());
    const peer = await startPeer();
    await peer.ask({ cmd: 'shm-attach', key: shm.key });
    shm.remove();
    const stat = shm.stat();
    expect(stat).toMatchObject({ removed: true, key: IPC_PRIVATE, nattch: 2 });
    expect(ipcsRow('-m', shm.id)?.join(' ')).toMatch(/dest/);
    expect(() => SysvSharedMemory.open(shm.key)).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'shmget' }),
    );
    await peer.ask({ cmd: 'shm-write', at: 10, value: 77 });
    expect(bytes[10]).toBe(77); // still shared
    shm.detach();
    expect(bytes.length).toBe(0);
    expect(await peer.ask({ cmd: 'shm-detach' })).toEqual({ reply: 'shm-detach', nattch: null });
    expect(ipcsRow('-m', shm.id)).toBeUndefined();
    expect(() => shm.stat()).toThrow(
      expect.objectContaining({ code: 'EIDRM', syscall: 'shmctl', objectName: `shmid ${shm.id}` }),
    );
    expect(() => shm.attach()).toThrow(expect.objectContaining({ code: 'EIDRM' }));
  });

  it('attach({ readOnly: true }) is refused (a PROT_READ attach would turn a JS write into SIGSEGV); a second handle reads what the first writes', async () => {
    const shm = create(4096);
    const writer = new Uint8Array(shm.attach());
    const reader = removeAfter(SysvSharedMemory.open(shm.key));
    expect(() => reader.attach({ readOnly: true })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_UNSUPPORTED', message: expect.stringContaining('SIGSEGV') }),
    );
    expect(reader.attached).toBe(false); // nothing was attached
    expect(shm.stat().nattch).toBe(1);
    const view = new Uint8Array(reader.attach({ readOnly: false }));
    expect(mappedPerms(shm.key)).toEqual(['rw-s', 'rw-s']);
    writer[3] = 33;
    expect(view[3]).toBe(33);
    expect(reader.attach()).toBe(reader.buffer); // one attachment per handle
    reader.detach();
    expect(mappedPerms(shm.key)).toEqual(['rw-s']);
    expect(shm.stat().nattch).toBe(1);
  });

  it('detach() with views and a pending futex wait: views read as empty, the wait rejects, nothing crashes', async () => {
    const shm = create(64);
    const words = new Int32Array(shm.attach());
    const pending = futex.wait(words, 0, 0);
    shm.detach();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    expect(words.length).toBe(0);
    expect(words[0]).toBeUndefined();
    expect(shm.attached).toBe(false);
    expect(shm.stat().nattch).toBe(0);
    const fresh = new Int32Array(shm.attach()); // attach again: a new buffer
    expect(fresh.length).toBe(16);
    shm.close();
    expect(() => shm.stat()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
  });

  it('setMode() changes the permission bits; EACCES for a process they exclude', async (ctx) => {
    const shm = create(64);
    shm.setMode(0o640);
    expect(shm.stat().mode).toBe(0o640);
    expect(ipcsInfo('-m', shm.id).fields.mode).toMatch(/640$/);
    shm.setMode(0o600);
    requireOrSkip(ctx, process.getuid?.() === 0, 'root, to run a child under another uid');
    const { child, done } = runFixture('sysv-peer.mjs', [], { uid: 65534, gid: 65534 });
    await waitFor(() => child.connected, 'the peer');
    const answer = new Promise((resolve) => child.on('message', (m) => (m as { reply?: string }).reply && resolve(m)));
    child.send({ cmd: 'shm-attach', key: shm.key });
    expect(await answer).toMatchObject({ error: { code: 'EACCES' } });
    child.kill('SIGKILL');
    await done;
  });

  it('checks its arguments before any system call', () => {
    expect(() => SysvSharedMemory.create(sysvTestKey(), { size: 0 })).toThrow(
      expect.objectContaining({ name: 'RangeError', message: expect.stringContaining('options.size') }),
    );
    expect(() => SysvSharedMemory.create(1.5, { size: 1 })).toThrow(RangeError);
    expect(() => SysvSharedMemory.create('1' as never, { size: 1 })).toThrow(TypeError);
    expect(() => SysvSharedMemory.create(sysvTestKey(), { size: 1, mode: 0o4777 })).toThrow(RangeError);
    expect(() => SysvSharedMemory.open(IPC_PRIVATE)).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(() => SysvSharedMemory.fromId(-1)).toThrow(RangeError);
    const shm = create(16);
    expect(() => shm.attach({ readOnly: 1 as never })).toThrow(
      expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('options.readOnly') }),
    );
    expect(() => shm.setMode(-1)).toThrow(RangeError);
  });
});

describe('SysvSharedMemory and Python sysv_ipc (python3-sysv-ipc)', () => {
  it('Node attaches to a segment Python created, and Python to one Node created', (ctx) => {
    requireOrSkip(ctx, HAVE_SYSV_IPC, "Python's sysv_ipc (apt-get install python3-sysv-ipc)");
    const key = sysvTestKey();
    const id = Number(
      python(
        `m = sysv_ipc.SharedMemory(int(sys.argv[1]), sysv_ipc.IPC_CREX, mode=0o600, size=100)
m.write(b'from python')
print(m.id)`,
        [String(key)],
      ),
    );
    const theirs = removeAfter(SysvSharedMemory.open(key));
    expect(theirs.id).toBe(id);
    const bytes = new Uint8Array(theirs.attach());
    expect(Buffer.from(bytes.subarray(0, 11)).toString()).toBe('from python');
    expect(theirs.stat()).toMatchObject({ size: 100, nattch: 1 });
    Buffer.from('from node').copy(bytes, 20);
    expect(
      python(`m = sysv_ipc.SharedMemory(int(sys.argv[1]))\nprint(m.read(9, offset=20).decode())`, [String(key)]),
    ).toBe('from node');

    const ours = create(256, 0o644);
    Buffer.from('hello python').copy(Buffer.from(ours.attach()));
    const seen = python(
      `m = sysv_ipc.SharedMemory(int(sys.argv[1]))
print(m.id, m.size, m.mode & 0o777, m.number_attached, m.read(12).decode())
m.write(b'!', offset=12)
m.remove()`,
      [String(ours.key)],
    );
    // sysv_ipc.SharedMemory() attaches as it opens: ours and Python's make 2.
    expect(seen).toBe(`${ours.id} 256 ${0o644} 2 hello python`);
    expect(new Uint8Array(ours.attach())[12]).toBe('!'.charCodeAt(0));
    expect(ours.stat().removed).toBe(true); // Python removed it; our attachment keeps it alive
  });
});
