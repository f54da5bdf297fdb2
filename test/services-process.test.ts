/**
 * Service and Client (issue 12) with the server in a process of its own: closeOnSignals (the
 * first SIGTERM drains, a second signal forces, the process exits), and the liveness of both
 * sides with pidfd_open(2) and with the /proc fallback of lib/primitives/process-watch.ts
 * (SHMKIT_NO_PIDFD=1 in the child processes). Nothing named after a test's service is left in
 * /dev/shm afterwards.
 */
import type { ChildProcess, ForkOptions } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Client, ProcessWatch, Service, type ServiceStats } from '../lib/index.js';
import { nextMessage, requireOrSkip, runFixture, uniqueName } from './helpers.js';

/** What is in /dev/shm under service `name`: its header and its connections' rings. */
function leftovers(name: string): string[] {
  const base = name.slice(1);
  return fs.readdirSync('/dev/shm').filter((entry) => entry === base || entry.startsWith(`${base}.`));
}

/** The rings of service `name` in /dev/shm. */
function rings(name: string): string[] {
  return leftovers(name).filter((entry) => entry !== name.slice(1));
}

/** Forks a fixture, killed when the test ends. */
function fixture(script: string, args: string[], options: ForkOptions = {}) {
  const run = runFixture(script, args, options);
  onTestFinished(() => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  });
  return run;
}

/** A client closed when the test ends. */
async function connect(name: string): Promise<Client> {
  const client = await Client.connect(name, { timeoutMs: 10_000 });
  onTestFinished(() => client.close());
  return client;
}

/** The descriptors process `pid` holds that are pidfds (what pidfd_open(2) returns). */
function pidfds(pid: number): number {
  let count = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[pidfd]') count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/** Whether pidfd_open(2) works here (Linux ≥ 5.3, no seccomp filter refusing it): a watch holds one. */
function pidfdWorks(): boolean {
  const saved = process.env.SHMKIT_NO_PIDFD;
  delete process.env.SHMKIT_NO_PIDFD; // the question is the kernel's, not this run's setting
  const before = pidfds(process.pid);
  const watch = ProcessWatch.open(process.ppid);
  try {
    return pidfds(process.pid) > before;
  } finally {
    watch.close();
    if (saved !== undefined) process.env.SHMKIT_NO_PIDFD = saved;
  }
}

/** The next IPC message of `child` that has `key`. */
function messageWith<T>(child: ChildProcess, key: string): Promise<T> {
  return nextMessage(child, (m) => typeof m === 'object' && m !== null && key in m) as Promise<T>;
}

describe('closeOnSignals in a server process', () => {
  /** The svc-signals.mjs fixture, listening, with its stdout (its counters at exit) collected. */
  async function signalServer(name: string) {
    const run = fixture('svc-signals.mjs', [name], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let stdout = '';
    run.child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    await messageWith(run.child, 'listening');
    return { ...run, end: () => JSON.parse(stdout.trim()) as { state: string; stats: ServiceStats } };
  }

  /** Asks the server until `n` gate handlers and `hanging` hang handlers run. */
  async function untilWaiting(client: Client, gates: number, hanging: number): Promise<void> {
    for (;;) {
      const now = (await client.call('waiting')) as { gates: number; hanging: number };
      if (now.gates === gates && now.hanging === hanging) return;
    }
  }

  it('SIGTERM drains: the calls in flight complete, new calls and connects get ERR_SHMKIT_SERVICE_DRAINING, then the process removes everything and exits', async () => {
    const name = uniqueName('svc');
    const server = await signalServer(name);
    const client = await connect(name);
    const goaway = once(client, 'goaway');
    const disconnect = once(client, 'disconnect');
    const gates = Array.from({ length: 20 }, () => client.call('gate'));
    await untilWaiting(client, 20, 0);
    server.child.kill('SIGTERM');
    await goaway;
    await expect(client.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_DRAINING' });
    await expect(Client.connect(name)).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_DRAINING' });
    expect(server.child.exitCode).toBe(null); // the drain waits for the gates
    client.notify('open'); // notifications still run while draining
    expect(await Promise.all(gates)).toEqual(Array(20).fill('opened'));
    expect(await disconnect).toEqual(['closed']);
    const result = await server.done;
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    const end = server.end();
    expect(end.state).toBe('closed');
    expect(end.stats).toMatchObject({ callsFailed: 0, callsCancelled: 0, inFlight: 0 });
    expect(end.stats.callsCompleted).toBe(end.stats.callsStarted); // the gates and the 'waiting' calls
    expect(end.stats.callsCompleted).toBeGreaterThanOrEqual(21);
    expect(leftovers(name)).toEqual([]);
  });

  it('a second signal forces: the calls still running reject ERR_SHMKIT_SERVICE_CLOSED, their handlers are aborted, and the process exits', async () => {
    const name = uniqueName('svc');
    const server = await signalServer(name);
    const client = await connect(name);
    const other = await connect(name);
    const goaway = once(client, 'goaway');
    const gates = Array.from({ length: 10 }, () => client.call('gate'));
    const hangs = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? client : other).call('hang'));
    await untilWaiting(client, 10, 40);
    server.child.kill('SIGTERM');
    await goaway;
    await expect(other.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'ERR_SHMKIT_SERVICE_DRAINING' });
    client.notify('open');
    expect(await Promise.all(gates)).toEqual(Array(10).fill('opened'));
    // Still draining: 40 handlers hold it (they end only when aborted).
    expect(server.child.exitCode).toBe(null);
    expect(leftovers(name)).toContain(name.slice(1));
    server.child.kill('SIGINT');
    const outcomes = await Promise.all(hangs.map((call) => call.then(String, (error) => error.code)));
    expect(outcomes).toEqual(Array(40).fill('ERR_SHMKIT_SERVICE_CLOSED'));
    const result = await server.done;
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    const end = server.end();
    expect(end.state).toBe('closed');
    expect(end.stats).toMatchObject({ callsCancelled: 40, inFlight: 0, callsFailed: 0 });
    expect(end.stats.callsStarted).toBe(end.stats.callsCompleted + end.stats.callsCancelled);
    expect(leftovers(name)).toEqual([]);
  });
});

/** Liveness with pidfds and with the /proc fallback (SHMKIT_NO_PIDFD=1 in every child). */
describe.each(['pidfd', '/proc fallback'])('liveness in child processes, %s', (watch) => {
  const fallback = watch !== 'pidfd';
  // Set for the fallback, and unset (whatever this process was started with) for the pidfd watch.
  const { SHMKIT_NO_PIDFD: _, ...env } = process.env;
  const options: ForkOptions = { env: fallback ? { ...env, SHMKIT_NO_PIDFD: '1' } : env };

  it('a client SIGKILLed with 100 calls in flight, 5 times: the server process sees it die, aborts its handlers, removes its rings and reuses its slot', async (ctx) => {
    if (!fallback) requireOrSkip(ctx, pidfdWorks(), 'pidfd_open(2) (Linux ≥ 5.3)');
    const name = uniqueName('svc');
    const server = fixture('svc-server.mjs', [name, '1'], options); // one slot: each round needs the last one freed
    const serverPid = (await messageWith<{ pid: number }>(server.child, 'listening')).pid;
    for (let round = 1; round <= 5; round++) {
      const client = fixture('svc-client.mjs', ['inflight', name, '100'], options);
      await messageWith(client.child, 'ready');
      expect(rings(name)).toHaveLength(2);
      // The server watches its client with a pidfd, or (the fallback) holds none.
      if (fallback) expect(pidfds(serverPid)).toBe(0);
      else expect(pidfds(serverPid)).toBeGreaterThan(0);
      const disconnect = messageWith<Record<string, unknown>>(server.child, 'disconnect');
      client.child.kill('SIGKILL');
      expect(await disconnect).toEqual({
        disconnect: 'died',
        pid: client.child.pid,
        inFlight: 0,
        aborted: 100 * round,
        connections: 0,
      });
      expect(rings(name)).toEqual([]);
      await client.done;
    }
    const again = await connect(name);
    expect(await again.call('add', { a: 1, b: 2 })).toBe(3);
    await again.close();
    server.child.kill('SIGKILL');
    await server.done;
    await Service.create(name).close(); // takes the dead header over, removes it
    expect(leftovers(name)).toEqual([]);
  });

  it('the server SIGKILLed: the client process’s pending calls reject ERR_SHMKIT_PEER_DIED, it sees "died", and a new server takes the name over', async (ctx) => {
    if (!fallback) requireOrSkip(ctx, pidfdWorks(), 'pidfd_open(2) (Linux ≥ 5.3)');
    const name = uniqueName('svc');
    const server = fixture('svc-server.mjs', [name], options);
    await messageWith(server.child, 'listening');
    const client = fixture('svc-client.mjs', ['outlive', name, '50'], options);
    await messageWith(client.child, 'ready');
    const clientPid = client.child.pid as number;
    if (fallback) expect(pidfds(clientPid)).toBe(0);
    else expect(pidfds(clientPid)).toBeGreaterThan(0);
    server.child.kill('SIGKILL');
    const report = await messageWith<{ outcomes: string[]; reason: string; after: string }>(client.child, 'outcomes');
    expect(report).toEqual({
      outcomes: Array(50).fill('ERR_SHMKIT_PEER_DIED'),
      reason: 'died',
      after: 'ERR_SHMKIT_CLOSED',
    });
    expect(await client.done).toMatchObject({ code: 0, stderr: '' });
    await server.done;
    const svc = Service.create(name); // takes the dead server's header over, with its leftover rings
    onTestFinished(() => svc.close({ drainTimeoutMs: 0 }));
    expect(rings(name)).toEqual([]);
    svc.handle('add', ({ a, b }) => a + b);
    await svc.listen();
    const again = await connect(name);
    expect(await again.call('add', { a: 2, b: 2 })).toBe(4);
    await again.close();
    await svc.close();
    expect(leftovers(name)).toEqual([]);
  });
});
