import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortError, ftok, SysvMessageQueue } from '../lib/index.js';
import { sysvTestKey } from './global-leaks.js';
import {
  expectAbortWhileAsleep,
  expectCloseRejectsWaits,
  requireOrSkip,
  runFixture,
  runPrefix,
  threadsNow,
  track,
  untilAsleep,
} from './helpers.js';

const create = (options: { mode?: number } = {}) =>
  track(SysvMessageQueue.create({ key: sysvTestKey(), ...options }), (queue) =>
    SysvMessageQueue.fromId(queue.id).remove(),
  );

function listed(id: number): boolean {
  return execFileSync('ipcs', ['-q'], { encoding: 'utf8' })
    .split('\n')
    .some((line) => line.trim().split(/\s+/)[1] === String(id));
}

describe('SysvMessageQueue', () => {
  it('create/open/openOrCreate by key; shows up in ipcs -q; remove() deletes it', () => {
    const queue = create();
    expect(queue.created).toBe(true);
    expect(listed(queue.id)).toBe(true);
    expect(queue.stat().mode).toBe(0o600);
    const other = SysvMessageQueue.open({ key: queue.key });
    expect([other.id, other.created]).toEqual([queue.id, false]);
    const third = SysvMessageQueue.openOrCreate({ key: queue.key });
    expect([third.id, third.created]).toEqual([queue.id, false]);
    expect(() => SysvMessageQueue.create({ key: queue.key })).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'msgget' }),
    );
    other.trySend('x');
    expect(third.tryReceive()?.data.toString()).toBe('x');
    queue.remove();
    expect(listed(queue.id)).toBe(false);
    expect(() => other.trySend('y')).toThrow(expect.objectContaining({ code: 'EIDRM', syscall: 'msgsnd' }));
    expect(() => SysvMessageQueue.open({ key: queue.key })).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'msgget' }),
    );
    other.close();
    third.close();
  });

  it('private() makes a keyless queue, reachable by id from another process', async () => {
    const queue = SysvMessageQueue.private({ mode: 0o640 });
    const reply = SysvMessageQueue.private();
    try {
      expect([queue.key, queue.created, queue.stat().mode]).toEqual([0, true, 0o640]);
      queue.trySend('ping', { type: 3 });
      const { done } = runFixture('sysv-echo.mjs', [String(queue.id), String(reply.id), '1']);
      expect((await done).code).toBe(0);
      const message = await reply.receive({ timeoutMs: 5000 });
      expect([message.type, message.data.toString()]).toEqual([3, 'ping']);
    } finally {
      queue.remove();
      reply.remove();
      queue.close();
      reply.close();
    }
    expect(listed(queue.id) || listed(reply.id)).toBe(false);
  });

  it('ftok gives one key per file and projId, usable by create/open', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix()}ftok-`));
    try {
      const file = path.join(dir, 'key');
      fs.writeFileSync(file, '');
      const key = ftok(file, 7);
      expect(ftok(file, 7)).toBe(key);
      expect(ftok(file, 8)).not.toBe(key);
      const queue = SysvMessageQueue.openOrCreate({ key });
      expect(queue.key).toBe(key);
      queue.remove();
      queue.close();
      expect(() => ftok(path.join(dir, 'missing'), 1)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('type selection follows msgrcv(2): 0 first, > 0 first of that type, < 0 lowest type <= |type|', () => {
    const queue = create();
    for (const [type, text] of [
      [3, 'a'],
      [1, 'b'],
      [2, 'c'],
      [5, 'd'],
      [1, 'e'],
    ] as const) {
      queue.trySend(text, { type });
    }
    const take = (type: number) => {
      const message = queue.tryReceive({ type });
      return message && `${message.type}${message.data.toString()}`;
    };
    expect(take(2)).toBe('2c');
    expect(take(4)).toBeUndefined();
    expect(take(-4)).toBe('1b'); // lowest type <= 4, first of it
    expect(take(0)).toBe('3a');
    expect(take(-4)).toBe('1e');
    expect(take(-4)).toBeUndefined();
    expect(take(0)).toBe('5d');
    expect(queue.tryReceive()).toBeUndefined();
  });

  it('stat() counts messages and bytes and names the sending process', async () => {
    const queue = create();
    queue.trySend(Buffer.alloc(10), { type: 1 });
    queue.sendSync('hello', { type: 2 });
    let stat = queue.stat();
    expect([stat.messages, stat.bytes, stat.lastSendPid, stat.maxBytes]).toEqual([2, 15, process.pid, 16384]);
    expect(stat.lastSendTime).toBeInstanceOf(Date);
    expect(stat.lastReceiveTime).toBeNull();
    queue.receiveSync();
    stat = queue.stat();
    expect([stat.messages, stat.bytes, stat.lastReceivePid]).toEqual([1, 5, process.pid]);
    const { done, child } = runFixture('sysv-send.mjs', [String(queue.key), 'from child', '9']);
    const result = await done;
    expect(result.code).toBe(0);
    expect(queue.stat().lastSendPid).toBe(child.pid);
    expect(queue.tryReceive({ type: 9 })?.data.toString()).toBe('from child');
    queue.set({ mode: 0o640, maxBytes: 4096 });
    expect([queue.stat().mode, queue.stat().maxBytes]).toEqual([0o640, 4096]);
  });

  it('a message over kernel.msgmax or the queue capacity is a RangeError before msgsnd', async () => {
    const queue = create();
    const msgmax = Number(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8'));
    expect(() => queue.trySend(Buffer.alloc(msgmax + 1))).toThrow(RangeError);
    expect(() => queue.trySend(Buffer.alloc(msgmax + 1))).toThrow(/kernel\.msgmax/);
    await expect(queue.send(Buffer.alloc(msgmax + 1))).rejects.toThrow(/kernel\.msgmax/);
    expect(queue.trySend(Buffer.alloc(msgmax))).toBe(true);
    queue.set({ maxBytes: 100 });
    expect(() => queue.sendSync(Buffer.alloc(101))).toThrow(/msg_qbytes/);
    expect(queue.stat().messages).toBe(1);
  });

  it('E2BIG for a message over maxBytes, unless truncate; the message stays on E2BIG', () => {
    const queue = create();
    queue.trySend('0123456789');
    expect(() => queue.tryReceive({ maxBytes: 4 })).toThrow(expect.objectContaining({ code: 'E2BIG' }));
    expect(queue.stat().messages).toBe(1);
    expect(queue.tryReceive({ maxBytes: 4, truncate: true })?.data.toString()).toBe('0123');
  });

  it('receive() resolves when a message arrives; ETIMEDOUT after timeoutMs; receiveSync too', async () => {
    const queue = create();
    const before = threadsNow();
    const waiting = queue.receive({ type: 4, timeoutMs: 10_000 });
    await untilAsleep('msgrcv', 1, before);
    queue.trySend('other', { type: 3 });
    queue.trySend('mine', { type: 4 });
    const message = await waiting;
    expect([message.type, message.data.toString()]).toEqual([4, 'mine']);
    await expect(queue.receive({ type: 4, timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      syscall: 'msgrcv',
    });
    expect(() => queue.receiveSync({ type: 4, timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(queue.receiveSync({ timeoutMs: 1000 }).data.toString()).toBe('other');
  });

  it('send() waits while the queue is full, with its bytes copied at the call', async () => {
    const queue = create();
    queue.set({ maxBytes: 8 });
    expect(queue.trySend('12345678')).toBe(true);
    expect(queue.trySend('x')).toBe(false);
    expect(() => queue.sendSync('x', { nowait: true })).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    await expect(queue.send('x', { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'msgsnd' });
    const data = Buffer.from('abcd');
    const before = threadsNow();
    const sending = queue.send(data, { type: 2, timeoutMs: 10_000 });
    data.fill(0); // the pending send copied it
    await untilAsleep('msgsnd', 1, before);
    expect(queue.tryReceive()?.data.toString()).toBe('12345678');
    await sending;
    expect(queue.tryReceive()?.data.toString()).toBe('abcd');
  });

  it('an aborted receive never loses a message, even when it arrives at the same moment', async () => {
    const queue = create();
    await expectAbortWhileAsleep('msgrcv', (signal) => queue.receive({ signal }));
    const rounds = 200;
    let received = 0;
    for (let i = 0; i < rounds; i++) {
      const abort = new AbortController();
      const pending = queue.receive({ signal: abort.signal }).then(
        () => 1,
        (error: unknown) => {
          expect(error).toBeInstanceOf(AbortError);
          return 0;
        },
      );
      await new Promise((resolve) => setImmediate(resolve));
      queue.trySend(`m${i}`);
      if (i % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
      abort.abort();
      received += await pending;
    }
    // Put-backs may still be in flight on a waiter thread for a moment.
    let left = 0;
    for (let tries = 0; tries < 200 && received + left < rounds; tries++) {
      while (queue.tryReceive()) left++;
      if (received + left < rounds) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(received + left).toBe(rounds);
  });

  it('remove() makes pending receives of every handle reject with EIDRM', async () => {
    const queue = create();
    const other = SysvMessageQueue.open({ key: queue.key });
    const before = threadsNow();
    const waits = [queue.receive(), other.receive({ type: 5 }), other.receive({ timeoutMs: 60_000 })];
    await untilAsleep('msgrcv', 3, before);
    queue.remove();
    const results = await Promise.allSettled(waits);
    for (const result of results) {
      expect(result).toMatchObject({ status: 'rejected', reason: { code: 'EIDRM', syscall: 'msgrcv' } });
    }
    other.close();
  });

  it('close() rejects pending waits, is safe twice and forbids later use', async () => {
    const queue = create();
    await expectCloseRejectsWaits(queue, (options) => queue.receive(options));
    expect(() => queue.trySend('x')).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
    // The queue itself is still there, and no message went missing.
    const again = SysvMessageQueue.open({ key: queue.key });
    again.trySend('still here');
    // (A cancelled receive interrupted just as it was handed the message puts it back.)
    expect(again.receiveSync({ timeoutMs: 2000 }).data.toString()).toBe('still here');
    again.close();
  });

  it('16 pending receives hold neither the event loop nor the libuv threadpool', async () => {
    const queue = create();
    const waits = Array.from({ length: 16 }, (_, i) => queue.receive({ type: i + 1, timeoutMs: 30_000 }));
    const reads = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile(__filename, 'utf8')));
    expect(reads.every((text) => text.length > 0)).toBe(true);
    for (let i = 0; i < 16; i++) queue.trySend(`t${i + 1}`, { type: i + 1 });
    const messages = await Promise.all(waits);
    expect(messages.map((m) => m.data.toString())).toEqual(Array.from({ length: 16 }, (_, i) => `t${i + 1}`));
  });

  it('exchanges 100,000 messages of mixed types with another process, in order', async () => {
    const toChild = create();
    const fromChild = create();
    const count = 100_000;
    const { done } = runFixture('sysv-echo.mjs', [String(toChild.id), String(fromChild.id), String(count)]);
    const message = (i: number) => {
      const data = Buffer.alloc(12);
      data.writeUInt32LE(i, 0);
      data.writeDoubleLE(i * 1.5, 4);
      return data;
    };
    const typeOf = (i: number) => (i % 7) + 1;
    const sending = (async () => {
      for (let i = 0; i < count; i++) {
        const data = message(i);
        if (!toChild.trySend(data, { type: typeOf(i) }))
          await toChild.send(data, { type: typeOf(i), timeoutMs: 20_000 });
      }
    })();
    let next = 0;
    let bad = 0;
    while (next < count) {
      const got = fromChild.tryReceive() ?? (await fromChild.receive({ timeoutMs: 20_000 }));
      if (got.type !== typeOf(next) || !got.data.equals(message(next))) bad++;
      next++;
    }
    await sending;
    const result = await done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(bad).toBe(0);
    expect([toChild.stat().messages, fromChild.stat().messages]).toEqual([0, 0]);
  });
});

const C_PEER = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
struct msg { long type; char text[256]; };
int main(int argc, char** argv) {
  int id = msgget((key_t)strtol(argv[1], NULL, 10), 0);
  if (id < 0) { perror("msgget"); return 1; }
  struct msg in;
  ssize_t n = msgrcv(id, &in, sizeof(in.text), 0, 0);
  if (n < 0) { perror("msgrcv"); return 1; }
  struct msg out = { in.type + 100, "" };
  int len = snprintf(out.text, sizeof(out.text), "C got %ld:%.*s", in.type, (int)n, in.text);
  if (msgsnd(id, &out, len, 0) != 0) { perror("msgsnd"); return 1; }
  return 0;
}
`;

function hasCompiler(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('SysvMessageQueue interop', () => {
  it('talks by key with a C program using msgrcv/msgsnd', async (ctx) => {
    requireOrSkip(ctx, hasCompiler(), 'a C compiler (cc)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix()}sysv-c-`));
    try {
      fs.writeFileSync(path.join(dir, 'peer.c'), C_PEER);
      execFileSync('cc', ['-O1', '-o', path.join(dir, 'peer'), path.join(dir, 'peer.c')]);
      const queue = create();
      queue.trySend('hi from node', { type: 5 });
      await new Promise<void>((resolve, reject) =>
        execFile(path.join(dir, 'peer'), [String(queue.key)], { timeout: 10_000 }, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
      const reply = await queue.receive({ type: 105, timeoutMs: 5000 });
      expect(reply.data.toString()).toBe('C got 5:hi from node');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SysvMessageQueue arguments', () => {
  it('rejects bad arguments with TypeError/RangeError naming them, before any syscall', async () => {
    expect(() => SysvMessageQueue.create(undefined as never)).toThrow(TypeError);
    expect(() => SysvMessageQueue.create({ key: 'k' as never })).toThrow(/"options.key"/);
    expect(() => SysvMessageQueue.create({ key: 1.5 })).toThrow(RangeError);
    expect(() => SysvMessageQueue.create({ key: 0 })).toThrow(/IPC_PRIVATE/);
    expect(() => SysvMessageQueue.create({ key: 2 ** 40 })).toThrow(RangeError);
    expect(() => SysvMessageQueue.create({ key: sysvTestKey(), mode: 0o10000 })).toThrow(/"options.mode"/);
    expect(() => SysvMessageQueue.fromId(-1)).toThrow(RangeError);
    expect(() => ftok(42 as never, 1)).toThrow(TypeError);
    expect(() => ftok('/tmp', 0)).toThrow(/"projId"/);
    expect(() => ftok('/tmp', 256)).toThrow(RangeError);
    const queue = create();
    expect(() => queue.trySend(42 as never)).toThrow(/"data"/);
    expect(() => queue.trySend('x', { type: 0 })).toThrow(/"options.type"/);
    expect(() => queue.trySend('x', { type: -1 })).toThrow(RangeError);
    expect(() => queue.trySend('x', { type: 2 ** 31 })).toThrow(RangeError);
    expect(() => queue.sendSync('x', { nowait: 1 as never })).toThrow(/"options.nowait"/);
    expect(() => queue.sendSync('x', { timeoutMs: -1 })).toThrow(RangeError);
    expect(() => queue.tryReceive({ maxBytes: -1 })).toThrow(/"options.maxBytes"/);
    expect(() => queue.tryReceive({ maxBytes: 2 ** 31 })).toThrow(RangeError);
    expect(() => queue.tryReceive({ type: 1.5 })).toThrow(RangeError);
    expect(() => queue.tryReceive({ truncate: 'yes' as never })).toThrow(/"options.truncate"/);
    expect(() => queue.tryReceive(null as never)).toThrow(TypeError);
    await expect(queue.receive({ timeoutMs: Number.NaN })).rejects.toThrow(RangeError);
    await expect(queue.receive({ signal: 'stop' as never })).rejects.toThrow(/"options.signal"/);
    await expect(queue.send('x', { ref: 1 as never })).rejects.toThrow(/"options.ref"/);
    expect(() => queue.set({ maxBytes: 0 })).toThrow(RangeError);
    expect(() => queue.set({ mode: 0o1777 })).toThrow(RangeError);
    expect(queue.stat().messages).toBe(0);
  });
});
