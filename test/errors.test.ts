/**
 * One error model across the primitives: ClosedError after close for every
 * class, a removed System V queue reported as EIDRM, system errors that name
 * their object, argument errors that name their argument, and one parser for
 * the options of every blocking wait.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ClosedError,
  Fifo,
  futex,
  MessageQueue,
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
import { requireOrSkip, runPrefix, threadsNow, track, uniqueName, untilAsleep } from './helpers.js';

const ERRNO = os.constants.errno as Record<string, number>;

/** Asserts that `run` throws a ClosedError (a class users can catch) with its code. */
function expectClosed(run: () => unknown): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ClosedError);
  expect(thrown).toMatchObject({ code: 'ERR_SHMKIT_CLOSED', name: 'ClosedError', message: /is closed/ });
}

/** Asserts that `run` throws an instance of `Kind` matching `properties`. */
function expectThrow(run: () => unknown, Kind: new () => Error, properties: object, what?: string): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, what).toBeInstanceOf(Kind);
  expect(thrown, what).toMatchObject(properties);
}

async function expectClosedAsync(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ClosedError);
  expect(error).toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
}

function sysvQueue(): SysvMessageQueue {
  return track(SysvMessageQueue.create({ key: sysvTestKey() }), (queue) => SysvMessageQueue.fromId(queue.id).remove());
}

const mqueueMounted = fs.readFileSync('/proc/self/mounts', 'utf8').includes(' /dev/mqueue mqueue ');
const MQUEUE = 'the mqueue filesystem mounted on /dev/mqueue';

describe('use after close is a ClosedError', () => {
  it('SharedMemory', () => {
    const shm = track(SharedMemory.create(uniqueName('err-shm'), { size: 64 }), SharedMemory);
    shm.close();
    expectClosed(() => shm.buffer);
    expectClosed(() => shm.size);
    expectClosed(() => shm.stat());
    expectClosed(() => shm.resize(128));
  });

  it('Semaphore, and a wait pending when it is closed', async () => {
    const sem = track(Semaphore.create(uniqueName('err-sem')), Semaphore);
    const pending = sem.wait();
    sem.close();
    await expectClosedAsync(pending);
    expectClosed(() => sem.post());
    expectClosed(() => sem.tryWait());
    expectClosed(() => sem.waitSync({ timeoutMs: 0 }));
    expectClosed(() => sem.value);
    await expectClosedAsync(sem.wait());
  });

  it('SysvMessageQueue', async () => {
    const queue = sysvQueue();
    queue.close();
    expectClosed(() => queue.trySend('x'));
    expectClosed(() => queue.sendSync('x', { timeoutMs: 0 }));
    expectClosed(() => queue.tryReceive());
    expectClosed(() => queue.receiveSync({ timeoutMs: 0 }));
    expectClosed(() => queue.stat());
    expectClosed(() => queue.set({ mode: 0o600 }));
    expectClosed(() => queue.remove());
    await expectClosedAsync(queue.send('x'));
    await expectClosedAsync(queue.receive());
  });

  it('PosixMessageQueue', async (ctx) => {
    requireOrSkip(ctx, mqueueMounted, MQUEUE);
    const queue = track(PosixMessageQueue.create(uniqueName('err-pmq')), PosixMessageQueue);
    queue.close();
    expectClosed(() => queue.attributes());
    expectClosed(() => queue.trySend('x'));
    expectClosed(() => queue.sendSync('x', { timeoutMs: 0 }));
    expectClosed(() => queue.tryReceive());
    expectClosed(() => queue.receiveSync({ timeoutMs: 0 }));
    await expectClosedAsync(queue.send('x'));
    await expectClosedAsync(queue.receive());
  });

  it('Mutex', async () => {
    const mutex = track(Mutex.create(uniqueName('err-mutex')), Mutex);
    mutex.close();
    expectClosed(() => mutex.tryLock());
    expectClosed(() => mutex.lockSync({ timeoutMs: 0 }));
    expectClosed(() => mutex.unlock());
    await expectClosedAsync(mutex.lock());
  });

  it('RingBuffer and TypedQueue', async () => {
    const ring = track(RingBuffer.create(uniqueName('err-ring'), { capacityBytes: 4096 }), RingBuffer);
    ring.close();
    expectClosed(() => ring.tryPush(new Uint8Array(1)));
    expectClosed(() => ring.tryPop());

    const queue = track(TypedQueue.create(uniqueName('err-tq'), { codec: 'json', capacityBytes: 4096 }), RingBuffer);
    queue.close();
    expectClosed(() => queue.tryPush(1));
    expectClosed(() => queue.tryPop());
    expectClosed(() => queue.pushSync(1, { timeoutMs: 0 }));
    expectClosed(() => queue.popSync({ timeoutMs: 0 }));
    expectClosed(() => queue.stats());
    await expectClosedAsync(queue.push(1));
    await expectClosedAsync(queue.pop());
  });

  it('a signals subscription has nothing to use after unsubscribe: unsubscribing twice is safe', () => {
    const subscription = signals.listen('SIGUSR2', () => {});
    subscription.unsubscribe();
    expect(() => subscription.unsubscribe()).not.toThrow();
    expect(() => subscription[Symbol.dispose]()).not.toThrow();
  });

  it('Fifo has no handle to close: its ends are Node streams', () => {
    expect(Object.getOwnPropertyNames(Fifo.prototype)).toEqual(['constructor']);
  });
});

describe('a removed System V queue', () => {
  it('is reported as EIDRM by every call of another handle, naming the queue', () => {
    const queue = sysvQueue();
    const other = SysvMessageQueue.open({ key: queue.key });
    expect(other.trySend('x')).toBe(true); // reads the capacity: later sends go straight to msgsnd
    queue.remove();
    const removed = (syscall: string) =>
      expect.objectContaining({
        code: 'EIDRM',
        errno: -(ERRNO.EIDRM as number),
        syscall,
        objectName: `msqid ${queue.id}`,
        message: expect.stringMatching(new RegExp(`^EIDRM: the queue was removed.*, ${syscall} 'msqid ${queue.id}'$`)),
      });
    expect(() => other.trySend('x')).toThrow(removed('msgsnd'));
    expect(() => other.sendSync('x', { timeoutMs: 0 })).toThrow(removed('msgsnd'));
    expect(() => other.tryReceive()).toThrow(removed('msgrcv'));
    expect(() => other.receiveSync({ timeoutMs: 0 })).toThrow(removed('msgrcv'));
    expect(() => other.stat()).toThrow(removed('msgctl'));
    expect(() => other.set({ mode: 0o600 })).toThrow(removed('msgctl'));
    expect(() => other.remove()).toThrow(removed('msgctl'));
    // errno is EIDRM's (os.constants.errno; libuv has no name for it); the kernel's own answer is the cause.
    expectThrow(() => other.trySend('x'), Error, {
      cause: expect.objectContaining({ code: 'EINVAL', syscall: 'msgsnd' }),
    });
  });

  it('rejects a receive of another handle that was waiting on it with EIDRM', async () => {
    const queue = sysvQueue();
    const other = SysvMessageQueue.open({ key: queue.key });
    const before = threadsNow();
    const waiting = other.receive();
    await untilAsleep('msgrcv', 1, before); // the wait has begun: asleep in msgrcv when the queue goes
    queue.remove();
    await expect(waiting).rejects.toMatchObject({
      code: 'EIDRM',
      syscall: 'msgrcv',
      objectName: `msqid ${queue.id}`,
      message: expect.stringContaining('the queue was removed'),
    });
    other.close();
  });
});

describe('system errors name their object', () => {
  it('SharedMemory.open of a missing name: ENOENT with the name', () => {
    const name = uniqueName('err-missing');
    expect(() => SharedMemory.open(name)).toThrow(
      expect.objectContaining({
        code: 'ENOENT',
        errno: -(ERRNO.ENOENT as number),
        syscall: 'shm_open',
        objectName: name,
        message: expect.stringContaining(`shm_open '${name}'`),
      }),
    );
    expect(() => SharedMemory.unlink(name)).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'shm_unlink', objectName: name }),
    );
  });

  it('EEXIST, ETIMEDOUT and the other primitives carry it too', () => {
    const shm = track(SharedMemory.create(uniqueName('err-exists'), { size: 8 }), SharedMemory);
    expect(() => SharedMemory.create(shm.name, { size: 8 })).toThrow(
      expect.objectContaining({ code: 'EEXIST', objectName: shm.name }),
    );

    const semName = uniqueName('err-sem');
    expect(() => Semaphore.open(semName)).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'sem_open', objectName: semName }),
    );
    const sem = track(Semaphore.create(semName), Semaphore);
    expect(() => sem.waitSync({ timeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT', errno: -(ERRNO.ETIMEDOUT as number), objectName: semName }),
    );

    const key = sysvTestKey();
    const keyName = `key 0x${(key >>> 0).toString(16).padStart(8, '0')}`;
    expect(() => SysvMessageQueue.open({ key })).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'msgget', objectName: keyName }),
    );

    const fifoPath = path.join(os.tmpdir(), `${runPrefix()}err-fifo-missing`);
    expect(() => Fifo.openReader(fifoPath)).toThrow(
      expect.objectContaining({ code: 'ENOENT', objectName: fifoPath, path: fifoPath }),
    );
  });

  it('PosixMessageQueue.open of a missing name', (ctx) => {
    requireOrSkip(ctx, mqueueMounted, MQUEUE);
    const name = uniqueName('err-pmq');
    expect(() => PosixMessageQueue.open(name)).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'mq_open', objectName: name }),
    );
  });
});

describe('argument errors name the argument, what was expected and what was given', () => {
  it('TypeError/RangeError with Node-style codes', () => {
    expectThrow(() => SharedMemory.create(uniqueName('err-arg'), { size: -1 }), RangeError, {
      code: 'ERR_OUT_OF_RANGE',
      message: expect.stringMatching(/"options\.size".*Received number -1$/),
    });
    expectThrow(() => SharedMemory.open(42 as unknown as string), TypeError, {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "name" argument must be a string. Received number 42',
    });
    expectThrow(() => SharedMemory.open('a/b'), TypeError, { code: 'ERR_INVALID_ARG_VALUE', message: /"name"/ });
  });

  it('every blocking wait parses its options the same way', () => {
    const sem = track(Semaphore.create(uniqueName('err-opts')), Semaphore);
    const mutex = track(Mutex.create(uniqueName('err-opts')), Mutex);
    const shm = track(SharedMemory.create(uniqueName('err-opts'), { size: 64 }), SharedMemory);
    const queue = sysvQueue();
    const typed = track(TypedQueue.create(uniqueName('err-opts'), { codec: 'json', capacityBytes: 4096 }), RingBuffer);
    const waits: [string, (options: { timeoutMs: number }) => unknown][] = [
      ['Semaphore.waitSync', (o) => sem.waitSync(o)],
      ['Mutex.lockSync', (o) => mutex.lockSync(o)],
      ['futex.waitSync', (o) => futex.waitSync(new Int32Array(shm.buffer), 0, 1, o)],
      ['SysvMessageQueue.receiveSync', (o) => queue.receiveSync(o)],
      ['TypedQueue.popSync', (o) => typed.popSync(o)],
    ];
    for (const [what, wait] of waits) {
      const bad = { timeoutMs: 'soon' as unknown as number };
      expectThrow(
        () => wait(bad),
        TypeError,
        {
          code: 'ERR_INVALID_ARG_TYPE',
          message: 'The "options.timeoutMs" argument must be a number. Received string \'soon\'',
        },
        what,
      );
      expectThrow(
        () => wait({ timeoutMs: -1 }),
        RangeError,
        { code: 'ERR_OUT_OF_RANGE', message: /"options\.timeoutMs"/ },
        what,
      );
    }
  });
});

describe('messages in user terms', () => {
  it("Mutex.open of a plain segment says what it is and what to do, not 'bad magic'", () => {
    const shm = track(SharedMemory.create(uniqueName('err-plain'), { size: 4096 }), SharedMemory);
    expectThrow(() => Mutex.open(shm.name), Error, {
      code: 'ERR_SHMKIT_MUTEX_FORMAT',
      message: `'${shm.name}' is a plain shared-memory segment or another kind of shmkit object, not a shmkit mutex: open it as what it is, or give the mutex another name`,
    });
  });
});

describe('names', () => {
  it('MessageQueue is the deprecated alias of SysvMessageQueue: the same class', () => {
    expect(MessageQueue).toBe(SysvMessageQueue);
    const queue = sysvQueue();
    expect(queue).toBeInstanceOf(MessageQueue);
    queue.close();
  });
});
