/**
 * `shmkit ls` and `shmkit rm` on System V shared memory and semaphore sets,
 * run as the built CLI against real objects. Bulk commands are confined
 * with `--match` to this file's own keys.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type IpcObject, SysvSemaphoreSet, SysvSharedMemory } from '../lib/index.js';
import { sysvTestKey } from './global-leaks.js';
import { track } from './helpers.js';
import { startPeer } from './sysv-peer.js';

const CLI = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function lsJson(...args: string[]): Promise<IpcObject[]> {
  const result = await cli('ls', '--json', ...args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as IpcObject[];
}

const nameOf = (key: number) => `key:0x${(key >>> 0).toString(16).padStart(8, '0')}`;

const segment = (key = sysvTestKey()) =>
  track(SysvSharedMemory.create(key, { size: 8192 }), (shm) => SysvSharedMemory.fromId(shm.id).remove());
const semSet = (key = sysvTestKey()) =>
  track(SysvSemaphoreSet.create(key, { count: 2, initial: 1 }), (set) => SysvSemaphoreSet.fromId(set.id).remove());

describe('shmkit ls and rm with System V shared memory and semaphore sets', () => {
  it('ls lists segments with the pids attaching them, and sets with their live last users', async () => {
    const shm = segment();
    shm.attach();
    const peer = await startPeer();
    await peer.ask({ cmd: 'shm-attach', id: shm.id });
    const set = semSet();
    await peer.ask({ cmd: 'sem-open', id: set.id });
    await peer.ask({ cmd: 'sem-op', ops: [{ index: 1, delta: -1 }] });
    const objects = await lsJson('--kind', 'sysv-shm,sysv-sem');
    const seg = objects.find((o) => o.kind === 'sysv-shm' && o.id === shm.id);
    expect(seg).toMatchObject({
      name: nameOf(shm.key),
      key: shm.key,
      size: 8192,
      mode: 0o600,
      stale: false,
      path: null,
    });
    expect(seg?.attached).toEqual([process.pid, peer.pid].sort((a, b) => a - b));
    const sem = objects.find((o) => o.kind === 'sysv-sem' && o.id === set.id);
    // SETALL (the initial values) makes this process semaphore 0's last user, the peer took from 1.
    expect(sem).toMatchObject({ name: nameOf(set.key), key: set.key, size: 2, stale: false });
    expect(sem?.attached).toEqual([process.pid, peer.pid].sort((a, b) => a - b));
    const plain = await cli('ls', '--format', 'plain', '--match', nameOf(set.key));
    expect(plain.stdout).toMatch(/sysv-sem/);
  });

  it('marks a detached segment and a set whose last users exited as stale; rm --stale removes them', async () => {
    const shm = segment();
    shm.attach();
    shm.detach();
    const set = semSet();
    const peer = await startPeer();
    await peer.ask({ cmd: 'sem-open', id: set.id });
    await peer.ask({
      cmd: 'sem-op',
      ops: [
        { index: 0, delta: -1 },
        { index: 1, delta: -1 },
      ],
    });
    const exited = new Promise((resolve) => peer.child.once('exit', resolve));
    peer.child.kill('SIGKILL');
    await exited;
    const objects = await lsJson('--kind', 'sysv-shm,sysv-sem');
    expect(objects.find((o) => o.id === shm.id && o.kind === 'sysv-shm')).toMatchObject({
      stale: true,
      staleReason: 'no process attaches it',
      attached: [],
    });
    expect(objects.find((o) => o.id === set.id && o.kind === 'sysv-sem')).toMatchObject({
      stale: true,
      staleReason: `its last users (${peer.pid}) exited`,
    });
    for (const [kind, key] of [
      ['sysv-shm', shm.key],
      ['sysv-sem', set.key],
    ] as const) {
      const result = await cli('rm', '--stale', '--kind', kind, '--match', nameOf(key), '--yes');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`removed ${kind} ${nameOf(key)}`);
    }
    expect(() => shm.stat()).toThrow(expect.objectContaining({ code: 'EIDRM' }));
    expect(() => set.stat()).toThrow(expect.objectContaining({ code: 'EIDRM' }));
  });

  it('a removed segment still attached shows as id:N, not stale; rm asks for --kind when a key names two objects', async () => {
    const key = sysvTestKey();
    const shm = segment(key);
    shm.attach();
    shm.remove();
    const removed = (await lsJson('--kind', 'sysv-shm')).find((o) => o.id === shm.id);
    expect(removed).toMatchObject({ name: `id:${shm.id}`, key: 0, stale: false, attached: [process.pid] });

    const both = segment(key); // the key is free again
    const set = semSet(key);
    const ambiguous = await cli('rm', nameOf(key));
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/names a sysv-shm and a sysv-sem: say which with --kind/);
    const result = await cli('rm', '--kind', 'sysv-sem', nameOf(key));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`removed sysv-sem ${nameOf(key)}`);
    expect(() => set.stat()).toThrow(expect.objectContaining({ code: 'EIDRM' }));
    expect(both.stat().key).toBe(key | 0);
    const byId = await cli('rm', '--kind', 'sysv-shm', `id:${both.id}`);
    expect(byId.code, byId.stderr).toBe(0);
    expect(() => both.stat()).toThrow(expect.objectContaining({ code: 'EIDRM' })); // gone at once: nobody attached it
  });
});
