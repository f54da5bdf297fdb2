import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AbortError, ClosedError, IPC_PRIVATE, SEMVMX, SysvSemaphoreSet } from '../lib/index.js';
import { sysvTestKey } from './global-leaks.js';
import { nextMessage, requireOrSkip, runFixture, track, waitFor } from './helpers.js';
import { HAVE_SYSV_IPC, ipcsInfo, python, spawnPython, startPeer } from './sysv-peer.js';

/** Removes the set when the test ends (an already removed one is fine: track() ignores EIDRM). */
const removeAfter = (set: SysvSemaphoreSet) => track(set, () => SysvSemaphoreSet.fromId(set.id).remove());

const create = (count: number, initial?: number | number[]) =>
  removeAfter(SysvSemaphoreSet.create(sysvTestKey(), { count, ...(initial === undefined ? {} : { initial }) }));

describe('SysvSemaphoreSet', () => {
  it('create/open with initial values; get/set/getAll/setAll; stat agrees with ipcs -s -i', () => {
    const set = create(3, [1, 2, 3]);
    expect([set.created, set.count]).toEqual([true, 3]);
    expect(set.getAll()).toEqual([1, 2, 3]);
    set.set(1, 7);
    expect(set.get(1)).toBe(7);
    set.setAll([0, SEMVMX, 4]);
    const other = SysvSemaphoreSet.open(set.key);
    expect([other.id, other.created, other.count]).toEqual([set.id, false, 3]);
    expect(other.getAll()).toEqual([0, SEMVMX, 4]);
    other.close();
    const stat = set.stat();
    expect(stat).toMatchObject({ id: set.id, key: set.key, count: 3, mode: 0o600, otime: 0 });
    expect(stat.ctime).toBeGreaterThan(0);
    const { fields, rows } = ipcsInfo('-s', set.id);
    expect(Number(fields.nsems)).toBe(stat.count);
    expect(Number.parseInt(fields.mode as string, 8) & 0o777).toBe(stat.mode);
    expect(rows.map((row) => Number(row[1]))).toEqual(set.getAll());
    expect(() => SysvSemaphoreSet.create(set.key, { count: 1 })).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'semget' }),
    );
    const all = create(2, 5);
    expect(all.getAll()).toEqual([5, 5]);
    const priv = removeAfter(SysvSemaphoreSet.create(IPC_PRIVATE, { count: 1, mode: 0o640 }));
    expect([priv.key, priv.stat().key, priv.stat().mode, priv.get(0)]).toEqual([0, 0, 0o640, 0]);
  });

  it('op() applies several operations atomically across processes: all at once or none', async () => {
    const set = create(2, [1, 0]);
    const peer = await startPeer();
    await peer.ask({ cmd: 'sem-open', key: set.key });
    const both = peer.ask({
      cmd: 'sem-op',
      ops: [
        { index: 0, delta: -1 },
        { index: 1, delta: -1 },
      ],
    });
    await waitFor(() => set.waitingForIncrease(1) === 1, 'the peer waiting on semaphore 1');
    expect(set.getAll()).toEqual([1, 0]); // it took nothing while it cannot take both
    expect(set.tryOp([{ index: 0, delta: -1 }])).toBe(true); // so semaphore 0 is still free to take
    set.set(0, 1);
    await set.op([{ index: 1, delta: 1 }]);
    await both;
    expect(set.getAll()).toEqual([0, 0]);
    expect(set.lastPid(0)).toBe(peer.pid);
    expect(set.lastPid(1)).toBe(peer.pid);
    expect(set.stat().otime).toBeGreaterThan(0);
  });

  it('undo: true (SEM_UNDO) gives a unit back when its holder is killed; without it the unit is lost', async () => {
    const set = create(2, [1, 1]);
    const holders = [await startPeer(), await startPeer()];
    for (const [index, peer] of holders.entries()) {
      await peer.ask({ cmd: 'sem-open', id: set.id });
      const undo = index === 0;
      expect(await peer.ask({ cmd: 'sem-op-then-hold', ops: [{ index, delta: -1, undo }] })).toMatchObject({
        holding: true,
      });
    }
    expect(set.getAll()).toEqual([0, 0]);
    for (const peer of holders) {
      const exited = new Promise((resolve) => peer.child.once('exit', resolve));
      peer.child.kill('SIGKILL');
      await exited;
    }
    expect(set.getAll()).toEqual([1, 0]); // the kernel undid the first (SEM_UNDO) only
    expect(set.lastPid(0)).toBe(holders[0]?.pid); // the kernel's undo counts as its operation
  });

  it('an async op times out (ETIMEDOUT), aborts (AbortError) and rejects on close(), taking nothing', async () => {
    const set = create(1, 0);
    const take = [{ index: 0, delta: -1 }];
    await expect(set.op(take, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'semop' });
    expect(() => set.opSync(take, { timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    const controller = new AbortController();
    const aborted = set.op(take, { signal: controller.signal });
    await waitFor(() => set.waitingForIncrease(0) === 1, 'the op asleep in semtimedop');
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await waitFor(() => set.waitingForIncrease(0) === 0, 'the aborted op to leave semtimedop');
    await expect(set.op(take, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const closing = set.op(take);
    set.close();
    await expect(closing).rejects.toBeInstanceOf(ClosedError);
    const again = SysvSemaphoreSet.fromId(set.id);
    await waitFor(() => again.waitingForIncrease(0) === 0, 'the closed op to leave semtimedop');
    again.set(0, 1);
    expect(again.get(0)).toBe(1); // nobody took it
    again.close();
  });

  it('rejects a pending op with EIDRM when the set is removed, in this process and another', async () => {
    const set = create(1, 0);
    const peer = await startPeer();
    await peer.ask({ cmd: 'sem-open', id: set.id });
    const theirs = peer.send({ cmd: 'sem-op', ops: [{ index: 0, delta: -1 }] });
    const ours = set.op([
      { index: 0, delta: 0 },
      { index: 0, delta: -1 },
    ]);
    await waitFor(() => set.waitingForIncrease(0) === 2, 'both ops asleep');
    SysvSemaphoreSet.fromId(set.id).remove();
    await expect(ours).rejects.toMatchObject({ code: 'EIDRM', syscall: 'semop', objectName: `semid ${set.id}` });
    expect(await theirs).toMatchObject({ error: { code: 'EIDRM' } });
    expect(() => set.get(0)).toThrow(expect.objectContaining({ code: 'EIDRM', syscall: 'semctl' }));
  });

  it('many pending ops each hold a waiter thread of the capped pool, never the event loop', async () => {
    const set = create(1, 0);
    const ops = Array.from({ length: 40 }, () => set.op([{ index: 0, delta: -1 }]));
    await waitFor(() => set.waitingForIncrease(0) === 40, '40 ops asleep');
    // With all 40 asleep, the loop still runs a timer (a blocked loop never would: the test would time out).
    await new Promise((resolve) => setTimeout(resolve, 1));
    // libuv's threadpool (4 threads by default) is free too: fs work still completes.
    const reads = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile('/proc/self/stat', 'utf8')));
    expect(reads.every((text) => text.startsWith(String(process.pid)))).toBe(true);
    set.set(0, 40);
    await Promise.all(ops);
    expect(set.get(0)).toBe(0);
  });

  it('past SHMKIT_MAX_BLOCKING_WAITERS one more op rejects with ERR_SHMKIT_TOO_MANY_WAITS', async () => {
    const set = create(1, 0);
    const peer = await startPeer({ ...process.env, SHMKIT_MAX_BLOCKING_WAITERS: '3' });
    await peer.ask({ cmd: 'sem-open', id: set.id });
    const started = await peer.ask({ cmd: 'sem-ops-start', ops: [{ index: 0, delta: -1 }], n: 4 });
    expect(started.settled).toEqual(['ERR_SHMKIT_TOO_MANY_WAITS']);
    await waitFor(() => set.waitingForIncrease(0) === 3, 'three ops asleep');
    set.set(0, 3);
    expect((await peer.ask({ cmd: 'sem-ops-results' })).results).toEqual([
      'ok',
      'ok',
      'ok',
      'ERR_SHMKIT_TOO_MANY_WAITS',
    ]);
  });

  it('tryOp, noWait, wait-for-zero and the kernel counters', async () => {
    const set = create(2, [1, 0]);
    expect(set.tryOp([{ index: 0, delta: -2 }])).toBe(false);
    expect(set.tryOp([{ index: 1, delta: 0 }])).toBe(true); // semaphore 1 is zero
    expect(() => set.opSync([{ index: 0, delta: -2, noWait: true }])).toThrow(
      expect.objectContaining({ code: 'EAGAIN', syscall: 'semop' }),
    );
    await expect(set.op([{ index: 0, delta: -2, noWait: true }])).rejects.toMatchObject({ code: 'EAGAIN' });
    // timeoutMs 0 leaves no time to tell the two apart by the clock: a noWait op still says EAGAIN,
    // a waiting one ETIMEDOUT.
    expect(() => set.opSync([{ index: 0, delta: -2, noWait: true }], { timeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: 'EAGAIN' }),
    );
    await expect(set.op([{ index: 0, delta: -2, noWait: true }], { timeoutMs: 0 })).rejects.toMatchObject({
      code: 'EAGAIN',
    });
    expect(() => set.opSync([{ index: 0, delta: -2 }], { timeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT' }),
    );
    const zero = set.op([{ index: 0, delta: 0 }]);
    await waitFor(() => set.waitingForZero(0) === 1, 'an op waiting for zero');
    expect(set.waitingForIncrease(0)).toBe(0);
    set.opSync([{ index: 0, delta: -1 }]);
    await zero;
    expect(set.lastPid(0)).toBe(process.pid);
    expect(() =>
      set.opSync([
        { index: 0, delta: SEMVMX },
        { index: 0, delta: 1 },
      ]),
    ).toThrow(expect.objectContaining({ code: 'ERANGE' }));
  });

  it('setMode() changes the permission bits; EACCES for a process they exclude', async (ctx) => {
    const set = create(1, 1);
    set.setMode(0o640);
    expect(set.stat().mode).toBe(0o640);
    expect(ipcsInfo('-s', set.id).fields.mode).toMatch(/640$/);
    set.setMode(0o600);
    requireOrSkip(ctx, process.getuid?.() === 0, 'root, to run a child under another uid');
    const { child, done } = runFixture('sysv-peer.mjs', [], { uid: 65534, gid: 65534 });
    await nextMessage(child, (m) => typeof (m as { ready?: number }).ready === 'number');
    const answer = nextMessage(child, (m) => (m as { reply?: string }).reply === 'sem-open');
    child.send({ cmd: 'sem-open', key: set.key });
    expect(await answer).toMatchObject({ error: { code: 'EACCES' } });
    child.kill('SIGKILL');
    await done;
    expect(set.get(0)).toBe(1);
  });

  it('checks its arguments before any system call', async () => {
    const set = create(2);
    const rangeNaming = (name: string) =>
      expect.objectContaining({ name: 'RangeError', message: expect.stringContaining(name) });
    const typeNaming = (name: string) =>
      expect.objectContaining({ name: 'TypeError', message: expect.stringContaining(name) });
    expect(() => set.tryOp([{ index: 2, delta: 1 }])).toThrow(rangeNaming('ops[0].index'));
    expect(() =>
      set.tryOp([
        { index: 0, delta: 1 },
        { index: 0, delta: 40000 },
      ]),
    ).toThrow(rangeNaming('ops[1].delta'));
    expect(() => set.tryOp([{ index: 0, delta: 0.5 }])).toThrow(rangeNaming('ops[0].delta'));
    expect(() => set.tryOp([{ index: 0, delta: 1, undo: 'yes' as never }])).toThrow(typeNaming('ops[0].undo'));
    expect(() => set.tryOp([])).toThrow(rangeNaming('ops'));
    expect(() => set.tryOp({} as never)).toThrow(typeNaming('ops'));
    expect(() => set.tryOp([null as never])).toThrow(typeNaming('ops[0]'));
    await expect(set.op([{ index: -1, delta: 1 }])).rejects.toThrow(rangeNaming('ops[0].index'));
    expect(() => set.opSync([{ index: 0, delta: 1 }], { timeoutMs: -1 })).toThrow(rangeNaming('options.timeoutMs'));
    expect(() => set.get(5)).toThrow(rangeNaming('index'));
    expect(() => set.set(0, SEMVMX + 1)).toThrow(rangeNaming('value'));
    expect(() => set.setAll([1])).toThrow(rangeNaming('values.length'));
    expect(() => set.setAll([1, -1])).toThrow(rangeNaming('values[1]'));
    expect(() => SysvSemaphoreSet.create(sysvTestKey(), { count: 0 })).toThrow(rangeNaming('options.count'));
    expect(() => SysvSemaphoreSet.create(sysvTestKey(), { count: 2, initial: [1] })).toThrow(
      rangeNaming('options.initial.length'),
    );
    expect(() => SysvSemaphoreSet.open(IPC_PRIVATE)).toThrow(rangeNaming('key'));
    expect(set.getAll()).toEqual([0, 0]);
  });
});

describe('SysvSemaphoreSet and Python sysv_ipc (python3-sysv-ipc)', () => {
  it('Node operates on a set Python created, and Python on one Node created', async (ctx) => {
    requireOrSkip(ctx, HAVE_SYSV_IPC, "Python's sysv_ipc (apt-get install python3-sysv-ipc)");
    const key = sysvTestKey();
    const id = Number(
      python(`s = sysv_ipc.Semaphore(int(sys.argv[1]), sysv_ipc.IPC_CREX, mode=0o600, initial_value=2)\nprint(s.id)`, [
        String(key),
      ]),
    );
    const theirs = removeAfter(SysvSemaphoreSet.open(key));
    expect([theirs.id, theirs.count, theirs.get(0)]).toEqual([id, 1, 2]);
    await theirs.op([{ index: 0, delta: -2 }]);
    expect(python(`print(sysv_ipc.Semaphore(int(sys.argv[1])).value)`, [String(key)])).toBe('0');
    expect(theirs.stat().otime).toBeGreaterThan(0);

    const ours = create(1, 0);
    const { fields, rows } = ipcsInfo('-s', ours.id);
    expect([Number(fields.nsems), rows.map((row) => Number(row[1]))]).toEqual([1, [0]]);
    const acquirer = spawnPython(
      `s = sysv_ipc.Semaphore(int(sys.argv[1]))
s.acquire(20)
print(s.value, s.id, flush=True)`,
      [String(ours.key)],
    );
    let out = '';
    acquirer.stdout?.on('data', (chunk) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => acquirer.on('close', resolve));
    await waitFor(() => ours.waitingForIncrease(0) === 1, 'Python waiting in semop');
    await ours.op([{ index: 0, delta: 1 }]);
    expect(await exited).toBe(0);
    expect(out.trim()).toBe(`0 ${ours.id}`);
    expect(ours.lastPid(0)).toBe(acquirer.pid);
  });
});
