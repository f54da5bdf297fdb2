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
import { Client, type ServiceStats } from '../lib/index.js';
import { nextMessage, runFixture, uniqueName } from './helpers.js';

/** What is in /dev/shm under service `name`: its header and its connections' rings. */
function leftovers(name: string): string[] {
  const base = name.slice(1);
  return fs.readdirSync('/dev/shm').filter((entry) => entry === base || entry.startsWith(`${base}.`));
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
