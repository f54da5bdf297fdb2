import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MQ_PRIO_MAX, PosixMessageQueue } from '../lib/index.js';
import {
  expectAbortWhileAsleep,
  nextMessage,
  requireOrSkip,
  runFixture,
  threadsNow,
  track,
  uniqueName,
  untilAsleep,
} from './helpers.js';

const create = (options: { maxMessages?: number; messageSize?: number } = {}) =>
  track(PosixMessageQueue.create(uniqueName('pmq'), options), PosixMessageQueue);

const mqueueMounted = fs.readFileSync('/proc/self/mounts', 'utf8').includes(' /dev/mqueue mqueue ');
const procLimit = (name: string) => Number(fs.readFileSync(`/proc/sys/fs/mqueue/${name}`, 'utf8'));

describe('PosixMessageQueue', () => {
  it('create/open/openOrCreate/unlink; attributes; mode 0o600; EEXIST and ENOENT', () => {
    const queue = create({ maxMessages: 4, messageSize: 64 });
    expect(queue.created).toBe(true);
    expect(queue.attributes()).toEqual({ maxMessages: 4, messageSize: 64, currentMessages: 0 });
    const other = PosixMessageQueue.open(queue.name);
    const third = PosixMessageQueue.openOrCreate(queue.name, { maxMessages: 9 });
    expect([other.created, third.created, third.messageSize]).toEqual([false, false, 64]);
    expect(() => PosixMessageQueue.create(queue.name)).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'mq_open' }),
    );
    other.trySend('hi');
    expect(third.attributes().currentMessages).toBe(1);
    expect(third.tryReceive()?.data.toString()).toBe('hi');
    other.close();
    third.close();
    queue.unlink();
    expect(() => PosixMessageQueue.open(queue.name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => PosixMessageQueue.unlink(queue.name)).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'mq_unlink' }),
    );
  });

  it('is a file in /dev/mqueue with mode 0o600, gone after unlink', (ctx) => {
    requireOrSkip(ctx, mqueueMounted, 'the mqueue filesystem mounted on /dev/mqueue');
    const queue = create();
    const file = `/dev/mqueue${queue.name}`;
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    queue.unlink();
    expect(fs.existsSync(file)).toBe(false);
  });

  it('messages come out highest priority first, FIFO within a priority', () => {
    const queue = create({ maxMessages: 10, messageSize: 16 });
    const sent: [string, number][] = [
      ['a', 1],
      ['b', 5],
      ['c', 0],
      ['d', 5],
      ['e', MQ_PRIO_MAX - 1],
      ['f', 1],
      ['g', 0],
    ];
    for (const [text, priority] of sent) expect(queue.trySend(text, { priority })).toBe(true);
    const out: string[] = [];
    for (let message = queue.tryReceive(); message; message = queue.tryReceive()) {
      out.push(`${message.data.toString()}${message.priority}`);
    }
    expect(out).toEqual(['e32767', 'b5', 'd5', 'a1', 'f1', 'c0', 'g0']);
  });

  it('a pending receive resolves when another process sends', async () => {
    const queue = create();
    const { child, done } = runFixture('pmq-send.mjs', [queue.name, 'from child', '7']);
    await nextMessage(child, (m) => (m as { ready?: boolean }).ready === true);
    const before = threadsNow();
    const waiting = queue.receive({ timeoutMs: 20_000 });
    await untilAsleep('poll', 1, before); // pending, really, before the child sends
    child.send('go');
    const message = await waiting;
    expect([message.data.toString(), message.priority]).toEqual(['from child', 7]);
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  });

  it('receive/receiveSync time out with ETIMEDOUT; send waits while full', async () => {
    const queue = create({ maxMessages: 1, messageSize: 8 });
    await expect(queue.receive({ timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'mq_receive' });
    expect(() => queue.receiveSync({ timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    queue.sendSync('one');
    expect(queue.trySend('two')).toBe(false);
    expect(() => queue.sendSync('two', { timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    const data = Buffer.from('two');
    const before = threadsNow();
    const sending = queue.send(data, { timeoutMs: 10_000, priority: 3 });
    data.fill(0);
    await untilAsleep('poll', 1, before);
    queue.tryReceive();
    await sending;
    expect(queue.receiveSync({ timeoutMs: 1000 })).toMatchObject({ priority: 3 });
    expect(queue.tryReceive()).toBeUndefined();
  });

  it('an aborted or closed receive loses no message', async () => {
    const queue = create();
    await expectAbortWhileAsleep('poll', (signal) => queue.receive({ signal }));
    let got = 0;
    for (let i = 0; i < 100; i++) {
      const abort = new AbortController();
      const pending = queue.receive({ signal: abort.signal }).then(
        () => 1,
        () => 0,
      );
      await new Promise((resolve) => setImmediate(resolve));
      queue.trySend(`m${i}`);
      abort.abort();
      got += await pending;
    }
    while (queue.tryReceive()) got++;
    expect(got).toBe(100);
    const reader = PosixMessageQueue.open(queue.name);
    const waits = Promise.allSettled([reader.receive(), reader.receive({ timeoutMs: 60_000 })]);
    reader.close();
    reader.close();
    for (const result of await waits) {
      expect(result).toMatchObject({ status: 'rejected', reason: { code: 'ERR_SHMKIT_CLOSED' } });
    }
    expect(() => reader.tryReceive()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
    while (queue.tryReceive()) {}
  });

  it('16 pending receives hold neither the event loop nor the libuv threadpool', async () => {
    const queue = create({ maxMessages: 10, messageSize: 16 });
    const waits = Array.from({ length: 16 }, () => queue.receive({ timeoutMs: 30_000 }));
    const reads = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile(__filename, 'utf8')));
    expect(reads.every((text) => text.length > 0)).toBe(true);
    for (let i = 0; i < 16; i++) await queue.send(`t${i}`, { timeoutMs: 10_000 });
    const texts = (await Promise.all(waits)).map((m) => m.data.toString()).sort();
    expect(texts).toEqual(Array.from({ length: 16 }, (_, i) => `t${i}`).sort());
  });

  it('a message over messageSize is a RangeError before mq_send', async () => {
    const queue = create({ maxMessages: 2, messageSize: 8 });
    expect(() => queue.trySend('123456789')).toThrow(RangeError);
    expect(() => queue.trySend('123456789')).toThrow(/mq_msgsize/);
    await expect(queue.send(Buffer.alloc(9))).rejects.toThrow(RangeError);
    expect(queue.trySend('12345678')).toBe(true);
  });

  it('creating beyond the kernel limits names the limit and its current value', async () => {
    // RLIMIT_MSGQUEUE binds every user, root included: fill this user's budget.
    const msgMax = procLimit('msg_max');
    const sizeMax = procLimit('msgsize_max');
    const full: PosixMessageQueue[] = [];
    let error: unknown;
    try {
      for (let i = 0; i < 1000 && error === undefined; i++) {
        try {
          full.push(PosixMessageQueue.create(uniqueName('pmq-budget'), { maxMessages: msgMax, messageSize: sizeMax }));
        } catch (caught) {
          error = caught;
        }
      }
    } finally {
      for (const queue of full) {
        queue.close();
        queue.unlink();
      }
    }
    expect(error).toMatchObject({ code: 'EMFILE', syscall: 'mq_open' });
    expect((error as Error).message).toMatch(/RLIMIT_MSGQUEUE budget, which is \d+ bytes/);
    // Over msg_max: EINVAL, unless the process has CAP_SYS_RESOURCE.
    const name = uniqueName('pmq-big');
    try {
      PosixMessageQueue.create(name, { maxMessages: msgMax + 1, messageSize: 16 }).close();
      PosixMessageQueue.unlink(name);
    } catch (caught) {
      expect(caught).toMatchObject({ code: 'EINVAL' });
      expect((caught as Error).message).toContain(`fs.mqueue.msg_max = ${msgMax}`);
    }
    // msg_max binds an unprivileged process.
    if (process.getuid?.() === 0) {
      const { done } = runFixture('pmq-as-nobody.mjs', [uniqueName('pmq-nobody'), String(msgMax + 1), '16'], {
        uid: 65534,
        gid: 65534,
      });
      const result = await done;
      expect(result.stderr).toBe('');
      expect(result.messages[0]).toMatchObject({ code: 'EINVAL' });
      expect((result.messages[0] as { message: string }).message).toContain(`fs.mqueue.msg_max = ${msgMax}`);
    }
  });
});

describe('PosixMessageQueue arguments', () => {
  it('rejects bad arguments with TypeError/RangeError naming them, before any syscall', async () => {
    expect(() => PosixMessageQueue.create(42 as never)).toThrow(/"name"/);
    expect(() => PosixMessageQueue.create('/a/b')).toThrow(TypeError);
    expect(() => PosixMessageQueue.create('x'.repeat(300))).toThrow(RangeError);
    expect(() => PosixMessageQueue.create(uniqueName('pmq'), { maxMessages: 0 })).toThrow(/"options.maxMessages"/);
    expect(() => PosixMessageQueue.create(uniqueName('pmq'), { messageSize: 2 ** 25 })).toThrow(RangeError);
    expect(() => PosixMessageQueue.create(uniqueName('pmq'), { mode: -1 })).toThrow(/"options.mode"/);
    expect(() => PosixMessageQueue.create(uniqueName('pmq'), null as never)).toThrow(TypeError);
    const queue = create();
    expect(() => queue.trySend({} as never)).toThrow(/"data"/);
    expect(() => queue.trySend('x', { priority: MQ_PRIO_MAX })).toThrow(/"options.priority"/);
    expect(() => queue.trySend('x', { priority: -1 })).toThrow(RangeError);
    expect(() => queue.receiveSync({ timeoutMs: -5 })).toThrow(RangeError);
    await expect(queue.receive({ timeoutMs: 'soon' as never })).rejects.toThrow(TypeError);
    await expect(queue.receive({ signal: {} as never })).rejects.toThrow(/"options.signal"/);
    await expect(queue.send('x', { ref: 'no' as never })).rejects.toThrow(/"options.ref"/);
    expect(queue.attributes().currentMessages).toBe(0);
  });
});
