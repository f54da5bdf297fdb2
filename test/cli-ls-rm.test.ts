/**
 * `shmkit ls` and `shmkit rm`, run as the built CLI (dist/tooling/cli/main.js) in a
 * child process against real objects. Every bulk command is confined with
 * `--match` to this file's objects, so that tests running beside it are
 * never touched.
 */
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIFO_REGISTRY,
  Fifo,
  type IpcObject,
  listObjects,
  Mutex,
  PosixMessageQueue,
  RingBuffer,
  Semaphore,
  SharedMemory,
  SysvMessageQueue,
} from '../lib/index.js';
import { RING_MAGIC } from '../lib/structures/ring/format.js';
import { plainField } from '../lib/tooling/cli/ls.js';
import { kindFromHeader } from '../lib/tooling/inventory.js';
import { sysvTestKey } from './global-leaks.js';
import { type ChildResult, nextMessage, runFixture, uniqueName, waitFor } from './helpers.js';

const CLI = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; stdin is a pipe, never a TTY. */
function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function lsJson(...args: string[]): Promise<IpcObject[]> {
  const result = await cli('ls', '--json', ...args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as IpcObject[];
}

function find(objects: IpcObject[], name: string): IpcObject | undefined {
  return objects.find((object) => object.name === name);
}

// Every object of this file has `tag` in its name (the SysV queue is found by key).
const base = uniqueName('cli');
const tag = base.slice(1);
const names = {
  shm: `${base}-shm`,
  sem: `${base}-sem`,
  ring: `${base}-ring`,
  mutex: `${base}-mutex`,
  mq: `${base}-mq`,
};
const semFile = `sem.${names.sem.slice(1)}`;
const key = sysvTestKey();
const sysvName = `key:0x${(key >>> 0).toString(16).padStart(8, '0')}`;
let dir = '';
let fifoPath = '';

const handles: { close(): void }[] = [];
let ringChild: { child: ChildProcess; done: Promise<ChildResult> } | undefined;
let shmChild: { child: ChildProcess; done: Promise<ChildResult> } | undefined;

async function holder(action: string, name: string) {
  const run = runFixture('cli-holder.mjs', [action, name]);
  await nextMessage(run.child, (message) => (message as { ready?: boolean }).ready === true);
  return run;
}

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  fifoPath = path.join(dir, 'fifo');
  const shm = SharedMemory.create(names.shm, { size: 4096 });
  handles.push(shm);
  handles.push(Semaphore.create(names.sem, { value: 1 }));
  handles.push(Mutex.create(names.mutex));
  const mq = PosixMessageQueue.create(names.mq, { maxMessages: 4, messageSize: 64 });
  mq.trySend('hi');
  handles.push(mq);
  const sysv = SysvMessageQueue.create({ key });
  sysv.trySend('hello');
  handles.push(sysv);
  Fifo.create(fifoPath);
  ringChild = await holder('create-ring', names.ring);
  shmChild = await holder('map-shm', names.shm);
  shm.close(); // from now on only shmChild maps the segment
});

afterAll(async () => {
  for (const run of [ringChild, shmChild]) {
    if (run && run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL');
      await run.done;
    }
  }
  for (const handle of handles) handle.close();
  const quietly = (remove: () => void) => {
    try {
      remove();
    } catch {}
  };
  quietly(() => SharedMemory.unlink(names.shm));
  quietly(() => Semaphore.unlink(names.sem));
  quietly(() => RingBuffer.unlink(names.ring));
  quietly(() => SharedMemory.unlink(names.mutex));
  quietly(() => PosixMessageQueue.unlink(names.mq));
  quietly(() => SysvMessageQueue.open({ key }).remove());
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('shmkit ls', () => {
  it('sees every kind of object this test made, with who maps it', async () => {
    const objects = await lsJson();
    const shm = find(objects, names.shm);
    expect(shm).toMatchObject({ kind: 'shm', size: 4096, mode: 0o600, uid: process.getuid?.(), stale: false });
    expect(shm?.path).toBe(`/dev/shm${names.shm}`);
    expect(shm?.attached).toEqual([shmChild?.child.pid]);

    expect(find(objects, semFile)).toMatchObject({ kind: 'semaphore', stale: false, attached: [process.pid] });
    expect(find(objects, names.mutex)).toMatchObject({ kind: 'mutex', size: 128, attached: [process.pid] });

    const ring = find(objects, names.ring);
    const ringPid = ringChild?.child.pid;
    expect(ring).toMatchObject({ kind: 'ring', creatorPid: ringPid, creatorAlive: true, attached: [ringPid] });
    expect(ring?.stale).toBe(false);

    expect(find(objects, names.mq)).toMatchObject({
      kind: 'posix-mq',
      size: 2,
      messages: 1,
      attached: [process.pid],
      stale: false,
    });
    expect(find(objects, sysvName)).toMatchObject({
      kind: 'sysv-mq',
      key,
      size: 5,
      messages: 1,
      lastSendPid: process.pid,
      attached: null,
      path: null,
      stale: false,
    });
    // Nobody has the FIFO open: it is stale from the start.
    expect(find(objects, fifoPath)).toMatchObject({ kind: 'fifo', attached: [], stale: true });
    expect(objects.some((object) => object.name.includes('shmkit-fifos.'))).toBe(false);

    // Every record has the same keys, in the documented order.
    const keys = Object.keys(shm ?? {});
    expect(keys).toEqual([
      'kind',
      'name',
      'path',
      'key',
      'id',
      'size',
      'messages',
      'mode',
      'uid',
      'owner',
      'changedAt',
      'ageSeconds',
      'attached',
      'creatorPid',
      'creatorAlive',
      'lastSendPid',
      'lastReceivePid',
      'stale',
      'staleReason',
    ]);
    for (const object of objects) expect(Object.keys(object)).toEqual(keys);
  });

  it('prints a table sorted by kind then name, with a summary (--format table)', async () => {
    const result = await cli('ls', '--format', 'table', '--match', tag);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^┌/);
    const order = [names.shm, names.ring, names.mutex, semFile, names.mq, fifoPath].map((name) =>
      result.stdout.indexOf(name),
    );
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(result.stdout).toMatch(/6 objects \(1 shm, 1 ring, 1 mutex, 1 semaphore, 1 posix-mq, 1 fifo\); 1 stale/);
  });

  it('prints plain lines by default when stdout is not a terminal: a header, then one object per line', async () => {
    const result = await cli('ls', '--match', tag);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]?.split(/\s+/)).toEqual([
      'name',
      'kind',
      'size',
      'messages',
      'mode',
      'owner',
      'age',
      'attached',
      'stale',
    ]);
    const rows = lines.slice(1).map((line) => line.split(/\s+/));
    // No border, no summary: exactly one line per object, nine fields each, sorted like the table.
    expect(rows.map((row) => row[0])).toEqual([names.shm, names.ring, names.mutex, semFile, names.mq, fifoPath]);
    for (const row of rows) expect(row).toHaveLength(9);
    const objects = await lsJson('--match', tag);
    for (const [i, row] of rows.entries()) {
      const object = objects[i] as IpcObject;
      expect(row).toEqual([
        object.name,
        object.kind,
        String(object.size),
        object.messages === null ? '-' : String(object.messages),
        `0${object.mode.toString(8)}`,
        object.owner,
        expect.stringMatching(/^\d+$/),
        object.attached?.length ? object.attached.join(',') : '-',
        object.stale ? 'yes' : 'no',
      ]);
    }
    expect(rows.find((row) => row[0] === names.mq)?.slice(2, 4)).toEqual(['2', '1']);
    expect(rows.find((row) => row[0] === fifoPath)?.[8]).toBe('yes');
    // --format plain says the same; --format json is --json.
    expect((await cli('ls', '--format', 'plain', '--match', tag)).stdout.split('\n')[0]).toBe(lines[0]);
    const json = await cli('ls', '--format', 'json', '--match', tag);
    expect(JSON.parse(json.stdout).map((o: IpcObject) => o.name)).toEqual(objects.map((o) => o.name));
  });

  it('escapes whitespace and backslashes in a plain field, so a name never splits a line or a column', () => {
    expect(plainField('/a b\tc\\d\ne')).toBe('/a\\040b\\011c\\134d\\012e');
    expect(plainField('/plain-name')).toBe('/plain-name');
  });

  it('does not change what it reports: two runs give a POSIX queue the same changedAt', async () => {
    const file = `/dev/mqueue${names.mq}`;
    const before = fs.statSync(file);
    // Past the next whole second of its ctime (the mqueue file system keeps whole seconds), so
    // a time an ls sets would differ from the one the queue has now.
    await waitFor(() => Date.now() > before.ctimeMs + 1100, 'the clock to pass the next second', { everyMs: 50 });
    const [first] = await lsJson('--kind', 'posix-mq', '--match', names.mq);
    const [second] = await lsJson('--kind', 'posix-mq', '--match', names.mq);
    expect(first?.changedAt).toBe(new Date(before.mtimeMs).toISOString());
    expect(second?.changedAt).toBe(first?.changedAt);
    expect(second?.ageSeconds).toBeGreaterThanOrEqual(first?.ageSeconds ?? Number.POSITIVE_INFINITY);
    expect(second).toMatchObject({ size: 2, messages: 1 });
    // What ls read changed no time it reports: the queue's mtime is the one it had before.
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs);
  });

  it('listObjects() gives the same records from code', async () => {
    const objects = await listObjects({ match: tag });
    expect(objects.map((object) => object.kind)).toEqual(['shm', 'ring', 'mutex', 'semaphore', 'posix-mq', 'fifo']);
    expect(find(objects, names.mutex)?.attached).toEqual([process.pid]);
    const onlyRings = await listObjects({ match: tag, kinds: ['ring'] });
    expect(onlyRings.map((object) => object.name)).toEqual([names.ring]);
  });

  it('tells a typed queue, a ring and a mutex from their header; a short or garbled one is shm', () => {
    const head = Buffer.alloc(64);
    head.writeUInt32LE(RING_MAGIC, 0);
    head.writeUInt32LE(1234, 28);
    expect(kindFromHeader(head, 4096)).toEqual({ kind: 'ring', creatorPid: 1234 });
    head.writeUInt32LE(0xdeadbeef, 24);
    expect(kindFromHeader(head, 4096)).toEqual({ kind: 'typed-queue', creatorPid: 1234 });
    head.writeUInt32LE(0xffffffff, 28);
    expect(kindFromHeader(head, 4096).creatorPid).toBeNull();
    expect(kindFromHeader(head, 100).kind).toBe('shm'); // smaller than a ring header
    expect(kindFromHeader(head.subarray(0, 3), 4096).kind).toBe('shm');
    expect(kindFromHeader(head.subarray(0, 20), 4096).kind).toBe('shm');
    const mutex = Buffer.alloc(8);
    mutex.writeUInt32LE(0x584d4d53, 0);
    expect(kindFromHeader(mutex, 128).kind).toBe('mutex');
    expect(kindFromHeader(Buffer.alloc(0), 0).kind).toBe('shm');
  });
});

describe('shmkit rm', () => {
  it('a ring whose creator was killed and that nobody maps is stale', async () => {
    const run = ringChild as { child: ChildProcess; done: Promise<ChildResult> };
    run.child.kill('SIGKILL');
    await run.done;
    const objects = await lsJson('--match', tag);
    expect(find(objects, names.ring)).toMatchObject({
      kind: 'ring',
      attached: [],
      creatorAlive: false,
      stale: true,
    });
    expect(find(objects, names.ring)?.staleReason).toMatch(/exited/);
    expect(find(objects, names.shm)?.stale).toBe(false); // still mapped by a live child
    const stale = await lsJson('--match', tag, '--stale');
    expect(stale.map((object) => object.name).sort()).toEqual([fifoPath, names.ring].sort());
  });

  it('--stale --dry-run lists the stale objects and removes nothing', async () => {
    const result = await cli('rm', '--stale', '--dry-run', '--match', tag);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`would remove ring ${names.ring}`);
    expect(result.stdout).toContain(`would remove fifo ${fifoPath}`);
    expect(result.stdout).not.toContain(names.shm);
    expect(result.stdout).toContain('2 objects would be removed');
    expect(fs.existsSync(`/dev/shm${names.ring}`)).toBe(true);
    expect(fs.existsSync(fifoPath)).toBe(true);
  });

  it('--stale removes the dead ring and the unused FIFO, not a segment a live child maps', async () => {
    const result = await cli('rm', '--stale', '--match', tag);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`removed ring ${names.ring}`);
    expect(fs.existsSync(`/dev/shm${names.ring}`)).toBe(false);
    expect(fs.existsSync(fifoPath)).toBe(false);
    expect(fs.existsSync(`/dev/shm${names.shm}`)).toBe(true);
    expect(fs.existsSync(`/dev/shm/${semFile}`)).toBe(true);
    // The registry no longer lists the removed FIFO.
    const registry = fs.existsSync(FIFO_REGISTRY) ? fs.readFileSync(FIFO_REGISTRY, 'utf8') : '';
    expect(registry.split('\n')).not.toContain(fifoPath);
  });

  it('rm NAME removes the objects named, by every naming form', async () => {
    const result = await cli('rm', semFile, names.mq, sysvName, names.mutex);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`removed semaphore ${semFile}`);
    expect(result.stdout).toContain(`removed posix-mq ${names.mq}`);
    expect(result.stdout).toContain(`removed sysv-mq ${sysvName}`);
    expect(result.stdout).toContain(`removed mutex ${names.mutex}`);
    expect(fs.existsSync(`/dev/shm/${semFile}`)).toBe(false);
    expect(fs.existsSync(`/dev/mqueue${names.mq}`)).toBe(false);
    expect(fs.existsSync(`/dev/shm${names.mutex}`)).toBe(false);
    expect(() => SysvMessageQueue.open({ key })).toThrow(expect.objectContaining({ code: 'ENOENT' }));

    const again = await cli('rm', names.mq);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`cannot remove '${names.mq}'`);
  });

  it('--all refuses without a TTY and without --yes; with --yes it removes everything shown', async () => {
    const refused = await cli('rm', '--all', '--match', tag);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to remove 1 object without confirmation.*--yes/);
    expect(fs.existsSync(`/dev/shm${names.shm}`)).toBe(true);

    const removed = await cli('rm', '--all', '--yes', '--match', tag);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed shm ${names.shm}`);
    expect(fs.existsSync(`/dev/shm${names.shm}`)).toBe(false);
    expect(await lsJson('--match', tag)).toEqual([]);
  });

  it('lists a service and its connection rings as kinds of their own; when its server dies, --stale removes them all', async () => {
    const name = `/${tag}-svc`;
    const holder = runFixture('cli-service.mjs', [name]);
    const { pid } = (await nextMessage(holder.child)) as { pid: number };
    const live = await lsJson('--match', `${tag}-svc`);
    const service = find(live, name);
    expect(service).toMatchObject({ kind: 'service', creatorPid: pid, stale: false });
    const rings = live.filter((o) => o.kind === 'service-ring');
    expect(rings.map((o) => o.name.replace(name, '')).sort()).toEqual(['.0.1.req', '.0.1.res']);
    holder.child.kill('SIGKILL');
    await holder.done;
    const dead = await lsJson('--match', `${tag}-svc`);
    expect(dead.map((o) => [o.kind, o.stale])).toEqual([
      ['service', true],
      ['service-ring', true],
      ['service-ring', true],
    ]);
    const removed = await cli('rm', '--stale', '--match', `${tag}-svc`);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(new RegExp(`^removed service ${name}$`, 'm'));
    expect(await lsJson('--match', `${tag}-svc`)).toEqual([]);
  });

  it('bad usage exits 2 with a message', async () => {
    for (const args of [
      ['rm'],
      ['rm', '--stale', '--all'],
      ['rm', '--stale', names.shm],
      ['rm', '--bogus'],
      ['ls', '--kind', 'nope'],
      ['ls', '--format', 'xml'],
      ['ls', '--json', '--format', 'table'],
      ['frobnicate'],
      [],
    ]) {
      const result = await cli(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.length, args.join(' ')).toBeGreaterThan(0);
    }
  });
});
