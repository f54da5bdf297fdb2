/**
 * Service and Client (issue 12): calls, streams, notifications, cancellation,
 * liveness, drain, eviction, limits, discovery and hostile bytes in the
 * header and the rings — with real processes. Every test checks at its end
 * that nothing named after its service is left in /dev/shm.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  Client,
  type Connection,
  type DisconnectReason,
  futex,
  RemoteError,
  RingBuffer,
  Service,
  type ServiceMethods,
  type ServiceOptions,
  SharedMemory,
} from '../lib/index.js';
import { checksum, payloadSizes } from './fixtures/svc-payload.mjs';
import { nextMessage, runFixture, seededRandom, uniqueName, waitFor } from './helpers.js';

/** What is in /dev/shm under service `name`: its header and its connections' rings. */
function leftovers(name: string): string[] {
  const base = name.slice(1);
  return fs.readdirSync('/dev/shm').filter((entry) => entry === base || entry.startsWith(`${base}.`));
}

/** The rings of service `name` in /dev/shm. */
function rings(name: string): string[] {
  return leftovers(name).filter((entry) => entry !== name.slice(1));
}

/** Handler bookkeeping the tests look at. */
interface Seen {
  aborted: string[];
  finallyRan: number;
  produced: number;
  pongs: number[];
  notes: unknown[];
  gates: Array<() => void>;
}

/** A listening service with the tests' handlers; closed (forced) and checked for leftovers when the test ends. */
async function serve(options: ServiceOptions = {}): Promise<{ svc: Service; name: string; seen: Seen }> {
  const name = uniqueName('svc');
  const svc = Service.create(name, options);
  const seen: Seen = { aborted: [], finallyRan: 0, produced: 0, pongs: [], notes: [], gates: [] };
  const untilAbort = (ctx: { signal: AbortSignal; method: string }) =>
    new Promise<string>((resolve) =>
      ctx.signal.addEventListener('abort', () => {
        seen.aborted.push(ctx.method);
        resolve('aborted');
      }),
    );
  svc.handle('add', ({ a, b }) => a + b);
  svc.handle('ping', () => 'pong');
  svc.handle('echo', ({ i, bytes, echo }: { i: number; bytes: Uint8Array; echo: boolean }) => ({
    i,
    len: bytes.length,
    sum: checksum(bytes),
    ...(echo ? { bytes } : {}),
  }));
  svc.handle('hang', (_params, ctx) => untilAbort(ctx));
  // ctx is a plain object of own properties: a spread keeps its signal.
  svc.handle('hangSpread', (_params, ctx) => untilAbort({ ...ctx }));
  svc.handle('gate', () => new Promise<string>((resolve) => seen.gates.push(() => resolve('opened'))));
  svc.handle('big', (i: number) => ({ i, bytes: new Uint8Array(1024) }));
  svc.handle('fail', () => {
    throw Object.assign(new TypeError('no good'), { code: 'E_NO_GOOD', data: { why: [1, 2, 3] } });
  });
  svc.handle('failAsync', async () => {
    throw Object.assign(new Error('later'), { code: 'E_LATER' });
  });
  svc.handle('count', async function* (n: number) {
    try {
      for (let i = 0; i < n; i++) yield i;
    } finally {
      seen.finallyRan++;
    }
  });
  svc.handle('counted', function* (n: number) {
    for (let i = 0; i < n; i++) {
      seen.produced++;
      yield i;
    }
  });
  // Never awaits: without the serve loop's turns it would starve every other call.
  svc.handle('forever', function* (_params, ctx) {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      seen.finallyRan++;
      if (ctx.signal.aborted) seen.aborted.push(ctx.method);
    }
  });
  svc.handle('pong', (pid: number) => {
    seen.pongs.push(pid);
  });
  svc.handle('note', (value) => {
    seen.notes.push(value);
  });
  onTestFinished(async () => {
    await svc.close({ drainTimeoutMs: 0 });
  });
  await svc.listen();
  return { svc, name, seen };
}

/** Some of the tests' handlers, as a typed client sees them. */
interface TestApi {
  add(params: { a: number; b: number }): number;
  count(n: number): AsyncIterable<number>;
  counted(n: number): Iterable<number>;
  forever(): Iterable<number>;
}

/** A client closed when the test ends. */
async function connect<M extends object = ServiceMethods>(
  name: string,
  options?: Parameters<typeof Client.connect>[1],
): Promise<Client<M>> {
  const client = await Client.connect<M>(name, { timeoutMs: 10_000, ...options });
  onTestFinished(() => client.close());
  return client;
}

/** Forks a fixture, killed when the test ends. */
function fixture(
  script: string,
  args: string[],
  options: Parameters<typeof runFixture>[2] = {},
): { child: ChildProcess; done: ReturnType<typeof runFixture>['done'] } {
  const run = runFixture(script, args, options);
  onTestFinished(() => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  });
  return run;
}

/** The next 'disconnect' of `svc`: its connection and reason. */
function nextDisconnect(svc: Service): Promise<[Connection, DisconnectReason]> {
  return once(svc, 'disconnect') as Promise<[Connection, DisconnectReason]>;
}

/** The counters' invariant: every call started has ended one way or is in flight. */
function expectBalanced(svc: Service): void {
  const s = svc.stats();
  expect(s.callsStarted).toBe(s.callsCompleted + s.callsFailed + s.callsCancelled + s.inFlight);
}

async function closeAndCheck(svc: Service, name: string): Promise<void> {
  await svc.close();
  expect(svc.state).toBe('closed'); // read once the header is unmapped: no throw
  expect(leftovers(name)).toEqual([]);
}

describe('Service and Client: calls', () => {
  // The size. On the 2-core test machine (2026-12-02) it takes ~8 s alone (four forked
  // clients, 40,000 calls); a longer timeout than the default for a loaded machine.
  it('4 client processes × 10,000 pipelined calls with checksummed payloads of 0–64 KiB: every call gets its own answer, and the counters agree', {
    timeout: 180_000,
  }, async () => {
    const CLIENTS = 4;
    const CALLS = 10_000;
    const { svc, name } = await serve();
    const { seed } = seededRandom();
    const reasons: DisconnectReason[] = [];
    svc.on('disconnect', (_conn, reason) => reasons.push(reason));
    const runs = Array.from({ length: CLIENTS }, (_, k) =>
      fixture('svc-client.mjs', ['pipeline', name, String(seed + k), String(CALLS)]),
    );
    const results = await Promise.all(runs.map((run) => run.done));
    let payloadBytes = 0;
    for (const [k, result] of results.entries()) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.messages).toEqual([{ done: true, ok: CALLS, bad: 0 }]);
      for (const size of payloadSizes(seed + k, CALLS)) payloadBytes += size;
    }
    await waitFor(() => reasons.length === CLIENTS, 'four disconnects');
    expect(reasons).toEqual(Array(CLIENTS).fill('closed'));
    const stats = svc.stats();
    expect(stats).toMatchObject({
      callsStarted: CLIENTS * CALLS,
      callsCompleted: CLIENTS * CALLS,
      callsFailed: 0,
      callsCancelled: 0,
      callsTimedOut: 0,
      inFlight: 0,
      connections: CLIENTS,
      disconnections: CLIENTS,
      evictions: 0,
    });
    // Each client keeps at most maxInFlightPerClient (256 by default) calls in flight.
    expect(stats.peakInFlight).toBeGreaterThan(0);
    expect(stats.peakInFlight).toBeLessThanOrEqual(CLIENTS * 256);
    // Every payload byte crossed the request rings (frames add their heads and the codec's framing).
    expect(stats.bytesIn).toBeGreaterThan(payloadBytes);
    expect(svc.methodStats().echo?.calls).toBe(CLIENTS * CALLS);
    expectBalanced(svc);
    await closeAndCheck(svc, name);
  });

  it('a handler that throws: RemoteError with code, message, data, method and remoteName; an unknown method: ERR_SHMKIT_NO_SUCH_METHOD', async () => {
    const { svc, name } = await serve();
    const client = await connect(name);
    expect(await client.call('add', { a: 2, b: 40 })).toBe(42);
    const typed = await connect<TestApi>(name); // the types follow the interface (checked by tsc)
    const sum: number = await typed.call('add', { a: 1, b: 2 });
    expect(sum).toBe(3);
    // @ts-expect-error: params of the wrong shape
    await typed.call('add', { a: 1 }).catch(() => {});
    // @ts-expect-error: a method the interface does not have
    await typed.call('nope').catch(() => {});
    await typed.close();
    const error = await client.call('fail').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({
      code: 'E_NO_GOOD',
      message: 'no good',
      data: { why: [1, 2, 3] },
      method: 'fail',
      remoteName: 'TypeError',
    });
    await expect(client.call('failAsync')).rejects.toMatchObject({ code: 'E_LATER', method: 'failAsync' });
    const missing = await client.call('nope').catch((e: unknown) => e);
    expect(missing).not.toBeInstanceOf(RemoteError);
    expect(missing).toMatchObject({ code: 'ERR_SHMKIT_NO_SUCH_METHOD' });
    expect((missing as Error).message).toMatch(/nope/);
    expect(svc.stats()).toMatchObject({ callsStarted: 5, callsCompleted: 3, callsFailed: 2 });
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('a timeout and an abort reject the call (ETIMEDOUT, AbortError) and abort the handler’s ctx.signal', async () => {
    const { svc, name, seen } = await serve();
    const client = await connect(name);
    await expect(client.call('hang', null, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await waitFor(() => seen.aborted.length === 1, 'the handler to see the timeout');
    const controller = new AbortController();
    const call = client.call('hang', null, { signal: controller.signal });
    await waitFor(() => svc.stats().inFlight === 1, 'the handler to run');
    controller.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    await waitFor(() => seen.aborted.length === 2, 'the handler to see the abort');
    expect(seen.aborted).toEqual(['hang', 'hang']);
    await expect(client.call('hangSpread', null, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await waitFor(() => seen.aborted.length === 3, 'the spread ctx to see the timeout');
    expect(seen.aborted).toEqual(['hang', 'hang', 'hangSpread']);
    await expect(client.call('add', { a: 1, b: 1 }, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    await waitFor(() => svc.stats().callsCancelled === 3, 'three cancelled calls');
    expect(svc.stats().inFlight).toBe(0);
    expectBalanced(svc);
    expect(client.pendingCalls).toBe(0);
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('past maxInFlightPerClient a call waits for room, or rejects ERR_SHMKIT_OVERLOADED with whenBusy: reject', async () => {
    const { svc, name, seen } = await serve({ maxInFlightPerClient: 2 });
    const client = await connect(name);
    const first = [client.call('gate'), client.call('gate')];
    await expect(client.call('add', { a: 1, b: 2 }, { whenBusy: 'reject' })).rejects.toMatchObject({
      code: 'ERR_SHMKIT_OVERLOADED',
    });
    const third = client.call('add', { a: 1, b: 2 });
    await waitFor(() => seen.gates.length === 2, 'two gates');
    expect(svc.stats().callsStarted).toBe(2); // the third waits in the client
    seen.gates[0]?.();
    expect(await third).toBe(3);
    seen.gates[1]?.();
    expect(await Promise.all(first)).toEqual(['opened', 'opened']);
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('a freed place goes to the call waiting for it, not to a call made in the answer’s continuation: no ERR_SHMKIT_OVERLOADED from the server', async () => {
    const { svc, name } = await serve({ maxInFlightPerClient: 1 });
    svc.handle('slow', async (n: number) => {
      await new Promise((resolve) => setImmediate(resolve));
      return n;
    });
    const client = await connect(name);
    const order: unknown[] = [];
    // A is in flight, B waits for its place; A's caller makes C the moment A answers.
    const a = client.call('slow', 1).then(async (n) => {
      order.push(n);
      return client.call('slow', 3).then((m) => order.push(m));
    });
    const b = client.call('slow', 2).then((n) => order.push(n));
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2, 3]); // B went before C, and nothing was refused
    // An abort while waiting takes the caller out of the line; the place goes to the next one.
    const gate = client.call('slow', 4);
    const controller = new AbortController();
    const aborted = client.call('slow', 5, { signal: controller.signal });
    const next = client.call('slow', 6);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(await Promise.all([gate, next])).toEqual([4, 6]);
    expect(svc.stats()).toMatchObject({ callsStarted: 5, callsCompleted: 5, callsFailed: 0 });
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('Client.close() with calls pending rejects them with ERR_SHMKIT_CLOSED and aborts their handlers', async () => {
    const { svc, name, seen } = await serve();
    const client = await connect(name);
    const calls = [client.call('hang'), client.call('hang'), client.call('hang')];
    await waitFor(() => svc.stats().inFlight === 3, 'three handlers');
    const disconnect = nextDisconnect(svc);
    await client.close();
    for (const call of calls) await expect(call).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
    expect((await disconnect)[1]).toBe('closed');
    await waitFor(() => seen.aborted.length === 3, 'the handlers to be aborted');
    await expect(client.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
    expect(() => client.notify('note', 1)).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLOSED' }));
    await client.close(); // twice is fine
    expect(rings(name)).toEqual([]);
    expectBalanced(svc);
    await closeAndCheck(svc, name);
  });
});

describe('Service and Client: streams', () => {
  it('a stream of 1,000 chunks arrives in order', async () => {
    const { svc, name, seen } = await serve();
    const client = await connect<TestApi>(name);
    const got: number[] = [];
    for await (const chunk of client.stream('count', 1000)) got.push(chunk);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(seen.finallyRan).toBe(1);
    expect(svc.stats()).toMatchObject({ streamChunks: 1000, callsCompleted: 1, inFlight: 0 });
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('break ends an endless generator that never awaits (its finally runs, ctx.signal aborts), and other calls go on meanwhile', async () => {
    const { svc, name, seen } = await serve();
    const client = await connect<TestApi>(name);
    const other = await connect(name);
    let n = 0;
    for await (const chunk of client.stream('forever')) {
      expect(chunk).toBe(n++);
      if (n === 50) expect(await other.call('add', { a: n, b: 1 })).toBe(51); // the server is not starved
      if (n === 100) break;
    }
    await waitFor(() => seen.finallyRan === 1, "the generator's finally");
    expect(seen.aborted).toEqual(['forever']);
    await waitFor(() => svc.stats().inFlight === 0, 'the stream to end');
    expect(svc.stats().callsCancelled).toBe(1);
    expect(await client.call('add', { a: 1, b: 2 })).toBe(3);
    await client.close();
    await other.close();
    await closeAndCheck(svc, name);
  });

  it('a slow loop paces the generator: the server runs at most 64 chunks (the window) ahead of what the loop took', async () => {
    const { svc, name, seen } = await serve();
    const client = await connect<TestApi>(name);
    let taken = 0;
    let furthestAhead = 0;
    for await (const chunk of client.stream('counted', 500)) {
      expect(chunk).toBe(taken++);
      furthestAhead = Math.max(furthestAhead, seen.produced - taken);
      expect(seen.produced - taken).toBeLessThanOrEqual(64);
      // A slow loop: several turns of the event loop per chunk, in which the server could run ahead.
      for (let k = 0; k < 4; k++) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(taken).toBe(500);
    expect(furthestAhead).toBeGreaterThan(1); // it did run ahead, within the window
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('a stream whose handler throws rejects the loop with RemoteError; a stream of an unknown method rejects ERR_SHMKIT_NO_SUCH_METHOD', async () => {
    const { svc, name } = await serve();
    const client = await connect(name);
    const loop = async (method: string) => {
      for await (const _ of client.stream(method)) {
        // nothing comes
      }
    };
    await expect(loop('fail')).rejects.toBeInstanceOf(RemoteError);
    await expect(loop('nope')).rejects.toMatchObject({ code: 'ERR_SHMKIT_NO_SUCH_METHOD' });
    await client.close();
    await closeAndCheck(svc, name);
  });
});

describe('Service and Client: notifications, discovery, limits', () => {
  it('notify runs the handler on the server; broadcast reaches every client', async () => {
    const { svc, name, seen } = await serve();
    const a = await connect(name);
    const b = await connect(name);
    a.notify('note', { hello: 1 });
    b.notify('note', 'two');
    b.notify('nope', 3); // no handler: dropped
    await waitFor(() => seen.notes.length === 2, 'two notes');
    expect(seen.notes).toEqual(expect.arrayContaining([{ hello: 1 }, 'two']));
    const got = [once(a, 'notification'), once(b, 'notification')];
    svc.broadcast('config.changed', { v: 7 });
    expect(await Promise.all(got)).toEqual([
      ['config.changed', { v: 7 }],
      ['config.changed', { v: 7 }],
    ]);
    await a.close();
    await b.close();
    await closeAndCheck(svc, name);
  });

  it('Service.list() finds the service with its clients, state and liveness', async () => {
    const { svc, name } = await serve({ maxClients: 3 });
    const client = await connect(name);
    const info = Service.list().find((entry) => entry.name === name);
    expect(info).toMatchObject({ name, pid: process.pid, alive: true, state: 'listening', clients: 1, maxClients: 3 });
    expect(info?.createdAt).toBeInstanceOf(Date);
    await client.close();
    await closeAndCheck(svc, name);
    expect(Service.list().find((entry) => entry.name === name)).toBeUndefined();
  });

  it('maxClients + 1 → ERR_SHMKIT_SERVICE_FULL; a freed slot takes the next client', async () => {
    const { svc, name } = await serve({ maxClients: 2 });
    const a = await connect(name);
    await connect(name);
    await expect(Client.connect(name)).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_FULL' });
    await expect(Client.connect(name, { waitForSlot: true, timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
    let waited = false;
    const waiting = Client.connect(name, { waitForSlot: true, timeoutMs: 20_000 }).then((client) => {
      waited = true;
      return client;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(waited).toBe(false);
    const gone = nextDisconnect(svc); // the server frees the slot when it reads the goodbye
    await a.close();
    await gone;
    const b = await waiting; // woken by the freed slot
    onTestFinished(() => b.close());
    expect(await b.call('add', { a: 2, b: 2 })).toBe(4);
    const gone2 = nextDisconnect(svc);
    await b.close();
    await gone2;
    const c = await connect(name);
    expect(await c.call('add', { a: 1, b: 2 })).toBe(3);
    expect(rings(name)).toHaveLength(4); // two connections, two rings each: the refused one left none
    await closeAndCheck(svc, name);
  });

  it('connect before the service exists: ENOENT, or with waitForService it resolves once the service listens', async () => {
    const name = uniqueName('svc');
    await expect(Client.connect(name)).rejects.toMatchObject({ code: 'ENOENT' });
    let connected = false;
    const connecting = Client.connect(name, { waitForService: true, timeoutMs: 20_000 }).then((client) => {
      connected = true;
      return client;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(connected).toBe(false);
    const svc = Service.create(name);
    svc.handle('add', ({ a, b }) => a + b);
    onTestFinished(() => svc.close({ drainTimeoutMs: 0 }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(connected).toBe(false); // 'starting': not listening yet
    await svc.listen();
    const client = await connecting;
    expect(await client.call('add', { a: 1, b: 2 })).toBe(3);
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('a client process that connects before the service exists (waitForService) gets through once the service (in the test process) listens', async () => {
    const name = uniqueName('svc');
    const run = fixture('svc-client.mjs', ['wait', name]);
    await nextMessage(run.child, (m) => (m as { connecting?: boolean }).connecting === true);
    const svc = Service.create(name);
    svc.handle('add', ({ a, b }) => a + b);
    onTestFinished(() => svc.close({ drainTimeoutMs: 0 }));
    const connected = new Promise<Connection>((resolve) => svc.once('connection', resolve));
    await svc.listen();
    expect((await connected).pid).toBe(run.child.pid);
    const result = await run.done;
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.messages.at(-1)).toEqual({ sum: 42 });
    await closeAndCheck(svc, name);
  });

  it('waitForService gives up at timeoutMs (ETIMEDOUT) and at an abort (AbortError)', async () => {
    const name = uniqueName('svc');
    await expect(Client.connect(name, { waitForService: true, timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
    const controller = new AbortController();
    const connecting = Client.connect(name, { waitForService: true, signal: controller.signal });
    controller.abort();
    await expect(connecting).rejects.toMatchObject({ name: 'AbortError' });
    expect(leftovers(name)).toEqual([]);
  });

  it('a codec mismatch → ERR_SHMKIT_CODEC_MISMATCH, and nothing is left of the attempt', async () => {
    const { svc, name } = await serve({ codec: 'json' });
    await expect(Client.connect(name)).rejects.toMatchObject({ code: 'ERR_SHMKIT_CODEC_MISMATCH' });
    await expect(Client.connect(name, { codec: 'v8' })).rejects.toMatchObject({ code: 'ERR_SHMKIT_CODEC_MISMATCH' });
    const client = await connect(name, { codec: 'json' });
    expect(await client.call('add', { a: 1, b: 2 })).toBe(3);
    await client.close();
    expect(rings(name)).toEqual([]);
    await closeAndCheck(svc, name);
  });

  it('bad arguments throw TypeError/RangeError naming the argument', async () => {
    const { svc, name } = await serve();
    expect(() => Service.create(42 as unknown as string)).toThrow(TypeError);
    expect(() => Service.create(uniqueName('svc'), { maxClients: 0 })).toThrow(/maxClients/);
    expect(() => Service.create(uniqueName('svc'), { maxClients: 0 })).toThrow(RangeError);
    expect(() => Service.create(uniqueName('svc'), { requestCapacityBytes: 1000 })).toThrow(/requestCapacityBytes/);
    expect(() => Service.create(uniqueName('svc'), { responseCapacityBytes: 16 })).toThrow(RangeError);
    expect(() => Service.create(uniqueName('svc'), { maxInFlightPerClient: 1.5 })).toThrow(/maxInFlightPerClient/);
    expect(() => Service.create(uniqueName('svc'), { mode: 'rw' as unknown as number })).toThrow(/mode/);
    expect(() => Service.create(uniqueName('svc'), 'x' as unknown as ServiceOptions)).toThrow(TypeError);
    expect(() => svc.handle(7 as unknown as string, () => 1)).toThrow(/method/);
    expect(() => svc.handle('x', 'nope' as unknown as () => 1)).toThrow(/handler/);
    expect(() => svc.broadcast(1 as unknown as string, 1)).toThrow(TypeError);
    expect(() => svc.close({ drainTimeoutMs: -1 })).toThrow(/drainTimeoutMs/);
    await expect(Client.connect(name, { waitForService: 'yes' as unknown as boolean })).rejects.toThrow(
      /waitForService/,
    );
    await expect(Client.connect(name, { timeoutMs: -5 })).rejects.toThrow(/timeoutMs/);
    await expect(Client.connect(name, { waitForSlot: 1 as unknown as boolean })).rejects.toThrow(/waitForSlot/);
    await expect(Client.connect('/a/b')).rejects.toThrow(/name/);
    await expect(Client.connect(`/${'x'.repeat(300)}`)).rejects.toThrow(RangeError);
    const client = await connect(name);
    await expect(client.call(1 as unknown as string)).rejects.toThrow(/method/);
    await expect(client.call('add', {}, { timeoutMs: 'soon' as unknown as number })).rejects.toThrow(/timeoutMs/);
    await expect(client.call('add', {}, { whenBusy: 'maybe' as unknown as 'wait' })).rejects.toThrow(/whenBusy/);
    await expect(client.call('add', {}, { signal: {} as AbortSignal })).rejects.toThrow(/signal/);
    expect(() => client.notify(null as unknown as string)).toThrow(/method/);
    expect(await client.call('add', { a: 1, b: 2 })).toBe(3); // none of it hurt the connection
    await client.close();
    await closeAndCheck(svc, name);
  });
});

describe('Service and Client: liveness', () => {
  // ~15 s alone on the 2-core test machine (2026-12-02): 50 forked clients.
  it('a client SIGKILLed with 100 calls in flight, 50 times: disconnect "died", handlers aborted, rings removed, the slot reused', {
    timeout: 180_000,
  }, async () => {
    const ROUNDS = 50;
    const { svc, name, seen } = await serve({ maxClients: 1 });
    const generations = new Set<number>();
    for (let round = 1; round <= ROUNDS; round++) {
      // maxClients: 1 — this client connects only if the last round's slot was freed.
      const run = fixture('svc-client.mjs', ['inflight', name, '100']);
      await nextMessage(run.child, (m) => (m as { ready?: boolean }).ready === true);
      expect(svc.stats().inFlight).toBe(100);
      expect(rings(name)).toHaveLength(2);
      const disconnect = nextDisconnect(svc);
      run.child.kill('SIGKILL');
      const [conn, reason] = await disconnect;
      expect(reason).toBe('died');
      expect(conn.pid).toBe(run.child.pid);
      expect(conn.slot).toBe(0);
      generations.add(conn.generation); // a new generation each time: new ring names
      expect(svc.stats().inFlight).toBe(0);
      expect(svc.connections).toEqual([]);
      await waitFor(() => seen.aborted.length === 100 * round, 'the handlers to be aborted');
      expect(rings(name)).toEqual([]);
      expect(svc.stats()).toMatchObject({ callsCancelled: 100 * round, connections: round, disconnections: round });
      await run.done;
    }
    expect(generations.size).toBe(ROUNDS);
    expectBalanced(svc);
    const client = await connect(name); // the one slot is free again
    expect(await client.call('add', { a: 1, b: 2 })).toBe(3);
    await client.close();
    await closeAndCheck(svc, name);
  });

  it('the server SIGKILLed: every pending call rejects ERR_SHMKIT_PEER_DIED; a new Service.create takes the name over', async () => {
    const name = uniqueName('svc');
    const server = fixture('svc-server.mjs', [name]);
    await nextMessage(server.child, (m) => (m as { listening?: boolean }).listening === true);
    const client = await connect(name);
    const disconnect = once(client, 'disconnect');
    expect(await client.call('add', { a: 1, b: 2 })).toBe(3);
    const calls = Array.from({ length: 20 }, () => client.call('hang'));
    server.child.kill('SIGKILL');
    for (const call of calls) await expect(call).rejects.toMatchObject({ code: 'ERR_SHMKIT_PEER_DIED' });
    expect(await disconnect).toEqual(['died']);
    await expect(client.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
    await server.done;
    expect(Service.list().find((entry) => entry.name === name)).toMatchObject({ alive: false });
    await expect(Client.connect(name)).rejects.toMatchObject({ code: 'ERR_SHMKIT_PEER_DIED' });
    const svc = Service.create(name); // takes over the dead header
    svc.handle('add', ({ a, b }) => a + b);
    onTestFinished(() => svc.close({ drainTimeoutMs: 0 }));
    expect(() => Service.create(name)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    await svc.listen();
    const again = await connect(name);
    expect(await again.call('add', { a: 2, b: 2 })).toBe(4);
    await again.close();
    await closeAndCheck(svc, name);
  });

  it('a new Service.create over a dead server removes its connections’ rings too', async () => {
    const name = uniqueName('svc');
    const server = fixture('svc-server.mjs', [name]);
    await nextMessage(server.child, (m) => (m as { listening?: boolean }).listening === true);
    const client = fixture('svc-client.mjs', ['inflight', name, '3']);
    await nextMessage(client.child, (m) => (m as { ready?: boolean }).ready === true);
    client.child.kill('SIGSTOP'); // it cannot clean up after the server's death
    server.child.kill('SIGKILL');
    await server.done;
    expect(rings(name)).toHaveLength(2);
    const svc = Service.create(name);
    onTestFinished(() => svc.close({ drainTimeoutMs: 0 }));
    expect(rings(name)).toEqual([]);
    client.child.kill('SIGKILL');
    await client.done;
    await closeAndCheck(svc, name);
  });

  it('a connected client keeps its process alive; unref() lets it exit', async () => {
    const { svc, name, seen } = await serve();
    const reffed = fixture('svc-client.mjs', ['ref', name]);
    const unreffed = fixture('svc-client.mjs', ['unref', name]);
    await nextMessage(reffed.child, () => true);
    const result = await unreffed.done; // exits by itself, connected
    expect(result).toMatchObject({ code: 0, stderr: '' });
    // The other one has only its connection left to keep it alive, and answers.
    await waitFor(() => reffed.child.connected === false, 'the IPC channel to close');
    svc.broadcast('ping', null);
    await waitFor(() => seen.pongs.includes(reffed.child.pid as number), 'a pong from the reffed client');
    expect(reffed.child.exitCode).toBe(null);
    await svc.close();
    expect(await reffed.done).toMatchObject({ code: 0, stderr: '' });
    expect(leftovers(name)).toEqual([]);
  });
});

describe('Service and Client: drain, eviction', () => {
  it('close() drains: 50 calls in flight complete, new calls get ERR_SHMKIT_SERVICE_DRAINING, then everything is removed', async () => {
    const { svc, name, seen } = await serve();
    const client = await connect(name);
    const other = await connect(name);
    const goaway = once(other, 'goaway');
    const disconnect = once(client, 'disconnect');
    const calls = Array.from({ length: 50 }, () => client.call('gate'));
    await waitFor(() => seen.gates.length === 50, '50 calls in flight');
    const closing = svc.close({ drainTimeoutMs: 60_000 });
    expect(svc.state).toBe('draining');
    // Sent before this client read the GOAWAY (the server refuses it) or after (the client does).
    await expect(other.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_DRAINING' });
    await goaway;
    await expect(other.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_DRAINING' });
    await expect(Client.connect(name)).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_DRAINING' });
    for (const open of seen.gates) open();
    expect(await Promise.all(calls)).toEqual(Array(50).fill('opened'));
    await closing;
    expect(await disconnect).toEqual(['closed']);
    // The refused calls never started; the 50 completed, none was cut short.
    expect(svc.stats()).toMatchObject({ callsStarted: 50, callsCompleted: 50, callsCancelled: 0, inFlight: 0 });
    expect(svc.state).toBe('closed');
    await expect(client.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'ERR_SHMKIT_CLOSED' });
    expect(leftovers(name)).toEqual([]);
  });

  it('close() past drainTimeoutMs forces: pending calls reject ERR_SHMKIT_SERVICE_CLOSED and handlers are aborted', async () => {
    const { svc, name, seen } = await serve();
    const client = await connect(name);
    const calls = [client.call('hang'), client.call('hang')];
    await waitFor(() => svc.stats().inFlight === 2, 'two calls in flight');
    await svc.close({ drainTimeoutMs: 10 });
    for (const call of calls) await expect(call).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_CLOSED' });
    expect(seen.aborted).toEqual(['hang', 'hang']);
    expect(leftovers(name)).toEqual([]);
  });

  it('a client that never reads is evicted ("slow-consumer") while another client progresses', async () => {
    const { svc, name } = await serve({ responseCapacityBytes: 4096, maxQueuedBytesPerClient: 8192 });
    const good = await connect(name);
    const evicted = nextDisconnect(svc);
    const run = fixture('svc-client.mjs', ['never-read', name, '64']);
    let progressed = 0;
    let stop = false;
    const progress = (async () => {
      while (!stop) {
        expect(await good.call('add', { a: progressed, b: 1 })).toBe(progressed + 1);
        progressed++;
      }
    })();
    const [conn, reason] = await evicted;
    stop = true;
    await progress;
    expect(reason).toBe('slow-consumer');
    expect(conn.pid).toBe(run.child.pid);
    expect(progressed).toBeGreaterThan(0);
    expect(svc.stats().evictions).toBe(1);
    expect(await good.call('add', { a: 1, b: 2 })).toBe(3);
    run.child.kill('SIGKILL');
    await run.done;
    await good.close();
    await closeAndCheck(svc, name);
  });

  it('a call whose handler drops its own connection (a broadcast past the queue limit) is cancelled: its ctx.signal aborts, nothing stays in flight', async () => {
    const name = uniqueName('svc');
    const svc = Service.create(name, { responseCapacityBytes: 4096, maxQueuedBytesPerClient: 4096 });
    onTestFinished(async () => {
      await svc.close({ drainTimeoutMs: 0 });
    });
    let ended = 0;
    svc.handle('big', async (_i: number, ctx) => {
      // The only client never reads: its third broadcast passes the queue's limit, and the
      // connection is dropped while this handler runs, before its call is entered as in flight.
      svc.broadcast('fill', new Uint8Array(3000));
      if (!ctx.signal.aborted) await once(ctx.signal, 'abort');
      ended++;
    });
    await svc.listen();
    const evicted = nextDisconnect(svc);
    const run = fixture('svc-client.mjs', ['never-read', name, '4']);
    expect((await evicted)[1]).toBe('slow-consumer');
    await waitFor(() => svc.stats().inFlight === 0, 'every call of the dropped connection to end');
    expect(ended).toBe(3); // the fourth call was never read: its connection had ended
    expect(svc.stats()).toMatchObject({ callsStarted: 3, callsCancelled: 3 });
    run.child.kill('SIGKILL');
    await run.done;
    await closeAndCheck(svc, name);
  });

  it('an evicted client learns of it once it reads again: its pending calls reject ERR_SHMKIT_DISCONNECTED', async () => {
    const { svc, name } = await serve({ responseCapacityBytes: 4096, maxQueuedBytesPerClient: 4096 });
    const evicted = nextDisconnect(svc);
    const run = fixture('svc-client.mjs', ['stalled', name, '64'], { stdio: ['pipe', 'inherit', 'pipe', 'ipc'] });
    expect((await evicted)[1]).toBe('slow-consumer');
    run.child.stdin?.end('go'); // it reads again
    const result = await run.done;
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const report = result.messages.at(-1) as { outcomes: string[]; reason: string };
    expect(report.reason).toBe('slow-consumer');
    expect(report.outcomes).toContain('ERR_SHMKIT_DISCONNECTED');
    expect(report.outcomes.every((o) => o === 'ok' || o === 'ERR_SHMKIT_DISCONNECTED')).toBe(true);
    expect(rings(name)).toEqual([]);
    await closeAndCheck(svc, name);
  });
});

describe('Service and Client: hostile bytes', () => {
  /** Random 32-bit values a buggy or hostile peer might write. */
  function hostile(random: { int(n: number): number; next(): number }): number {
    const picks = [0, 1, 2, 3, 4, -1, 0x7fffffff, -0x80000000, 64, 4096, 1 << 30];
    return random.next() < 0.5 ? (picks[random.int(picks.length)] as number) : (random.next() * 2 ** 32) | 0;
  }

  it('random bytes over a live header’s fields and slot table, and over a connection’s ring frames: errors or a dropped connection, never a crash or a hang; other clients keep working', async () => {
    const random = seededRandom();
    const { svc, name } = await serve({ maxClients: 4, requestCapacityBytes: 4096, responseCapacityBytes: 4096 });
    const reasons: DisconnectReason[] = [];
    svc.on('disconnect', (_conn, reason) => reasons.push(reason));
    svc.on('error', (error) => {
      throw error; // the serve loop must not fail
    });
    const goodSlot = new Promise<number>((resolve) => svc.once('connection', (conn: Connection) => resolve(conn.slot)));
    const good = await connect(name);
    const mySlot = await goodSlot;
    const shm = SharedMemory.open(name);
    onTestFinished(() => shm.close());
    const i32 = new Int32Array(shm.buffer);
    const kick = () => {
      Atomics.add(i32, 3, 2); // the doorbell: as a connecting client does
      futex.wake(i32, 3);
    };
    /** Every outcome is a value or an error with a code. */
    const settle = (promise: Promise<unknown>) =>
      promise.then(
        () => 'ok',
        (error: { code?: unknown }) => {
          if (typeof error?.code !== 'string') throw error;
          return error.code;
        },
      );
    const outcomes = new Map<string, number>();
    const tally = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

    // The header's fields (0–255) and the other slots (256 + 64 × slot): written over, used, then put back.
    for (let round = 0; round < 150; round++) {
      // Int32 words: 0–63 the header (fields, then counters), 64 + 16 × slot the slots (state, generation, pid, start time).
      const words: number[] = [];
      for (let n = 1 + random.int(4); n > 0; n--) {
        const slot = random.int(4);
        if (random.next() < 0.5) words.push(random.int(64));
        else if (slot !== mySlot) words.push(64 + 16 * slot + random.int(6));
      }
      const saved = words.map((word) => i32[word] as number);
      for (const word of words) i32[word] = hostile(random);
      kick();
      tally(
        await settle(
          Client.connect(name, { timeoutMs: 200 }).then((c) =>
            c.call('add', { a: 1, b: 1 }, { timeoutMs: 500 }).finally(() => c.close()),
          ),
        ),
      );
      tally(await settle(good.call('add', { a: round, b: 1 }, { timeoutMs: 500 })));
      words.forEach((word, k) => {
        if (word !== 3) i32[word] = saved[k] as number; // the doorbell is live: kicked instead
      });
      // Slots the fuzz left claimed or ready with no client: free them as a dead client's would be.
      for (let slot = 0; slot < 4; slot++) {
        if (slot === mySlot) continue;
        const state = 64 + 16 * slot;
        if (!svc.connections.some((conn) => conn.slot === slot)) Atomics.store(i32, state, 0);
      }
      kick();
      expect(await good.call('add', { a: round, b: 1 }, { timeoutMs: 5000 })).toBe(round + 1);
    }

    // A victim connection's request ring: garbage frames, and garbage over the ring itself.
    for (let round = 0; round < 100; round++) {
      const victimSlot = new Promise<Connection>((resolve) => svc.once('connection', resolve));
      const victim = await Client.connect(name, { timeoutMs: 5000 });
      const conn = await victimSlot;
      const reqName = `${name}.${conn.id}.req`;
      if (round % 2 === 0) {
        const ring = RingBuffer.open(reqName);
        const length = random.int(48);
        const frame = new Uint8Array(length);
        for (let k = 0; k < length; k++) frame[k] = random.int(256);
        if (length >= 8 && random.next() < 0.5) frame[0] = 1 + random.int(6); // a known type, a bad rest
        ring.tryPush(frame);
        ring.close();
      } else {
        const raw = SharedMemory.open(reqName);
        const bytes = new Int32Array(raw.buffer, 0, Math.min(raw.size, 4096) / 4);
        for (let n = 1 + random.int(4); n > 0; n--) bytes[random.int(bytes.length)] = hostile(random);
        raw.close();
      }
      kick();
      tally(`victim:${await settle(victim.call('add', { a: 1, b: 2 }, { timeoutMs: 500 }))}`);
      await victim.close();
      expect(await good.call('add', { a: round, b: 2 }, { timeoutMs: 5000 })).toBe(round + 2);
    }
    console.log('fuzz outcomes', Object.fromEntries(outcomes), 'disconnects', reasons.length);
    expect(reasons).toContain('protocol');
    await good.close();
    shm.close();
    await closeAndCheck(svc, name);
  });
});

/** Runs the built `shmkit` command in another process. */
function shmkitCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('Service metrics', () => {
  it('per-method durations, a timed-out counter, the Prometheus text, and shmkit stat from another process', async () => {
    const { svc, name } = await serve();
    const client = await connect(name);
    for (let i = 0; i < 50; i++) expect(await client.call('add', { a: i, b: 1 })).toBe(i + 1);
    await expect(client.call('fail')).rejects.toMatchObject({ code: 'E_NO_GOOD' });
    await expect(client.call('hang', null, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const aborted = new AbortController();
    const gone = client.call('hang', null, { signal: aborted.signal });
    await waitFor(() => svc.stats().inFlight === 1, 'the second hang under way');
    aborted.abort();
    await expect(gone).rejects.toMatchObject({ name: 'AbortError' });
    // Both cancels reach the server; only the first says its caller timed out.
    await waitFor(() => svc.stats().callsCancelled === 2, 'both cancellations counted');
    expect(svc.stats()).toMatchObject({ callsTimedOut: 1, callsCompleted: 50, callsFailed: 1 });

    const methods = svc.methodStats();
    expect(Object.keys(methods).sort()).toEqual(['add', 'fail']); // cancelled calls were not answered
    expect(methods.add?.calls).toBe(50);
    expect(methods.fail?.calls).toBe(1);
    const add = methods.add as NonNullable<typeof methods.add>;
    expect(add.p50Us).toBeLessThanOrEqual(add.p99Us);
    expect(add.p99Us).toBeLessThanOrEqual(add.maxUs);

    const text = svc.metricsText();
    const label = `service="${name}"`;
    expect(text).toContain(`shmkit_service_calls_completed_total{${label}} 50\n`);
    expect(text).toContain(`shmkit_service_calls_timed_out_total{${label}} 1\n`);
    expect(text).toContain('# TYPE shmkit_service_in_flight gauge\n');
    expect(text).toContain(`shmkit_service_call_duration_seconds_count{${label},method="add"} 50\n`);
    expect(text).toMatch(
      new RegExp(`shmkit_service_call_duration_seconds\\{${label},method="add",quantile="0\\.5"\\} [0-9.e-]+\\n`),
    );

    const result = await shmkitCli('stat', name, '--json');
    expect(result.code, result.stderr).toBe(0);
    const stat = JSON.parse(result.stdout);
    expect(stat).toMatchObject({ name, pid: process.pid, alive: true, state: 'listening', clients: 1 });
    expect(stat.counters).toMatchObject({ callsCompleted: 50, callsFailed: 1, callsTimedOut: 1 });

    const none = await shmkitCli('stat', `${name}-none`);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/is not a shmkit service/);
  });

  it('a call aborted while it waits for a free in-flight place is never sent', async () => {
    const { svc, name } = await serve({ maxInFlightPerClient: 1 });
    const client = await connect(name);
    const first = new AbortController();
    const busy = client.call('hang', null, { signal: first.signal });
    await waitFor(() => svc.stats().inFlight === 1, 'the first call under way');
    const second = new AbortController();
    const waiting = client.call('add', { a: 1, b: 2 }, { signal: second.signal });
    second.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    first.abort();
    await expect(busy).rejects.toMatchObject({ name: 'AbortError' });
    expect(await client.call('add', { a: 2, b: 2 })).toBe(4);
    expect(svc.stats()).toMatchObject({ callsStarted: 2, callsCompleted: 1 });
  });
});
