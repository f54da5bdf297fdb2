/**
 * Helpers of the System V shared memory and semaphore set tests: a peer
 * process that obeys commands (fixtures/sysv-peer.mjs), `ipcs -i` parsed,
 * and the Python sysv_ipc peer.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { onTestFinished } from 'vitest';
import { nextMessage, runFixture } from './helpers.js';

export interface Peer {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Sends a command and resolves with its answer; rejects if the peer answers with an error. */
  ask(command: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Sends a command and resolves with its answer, error or not. */
  send(command: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Starts a peer, killed when the current test finishes. */
export async function startPeer(env: NodeJS.ProcessEnv = process.env): Promise<Peer> {
  const { child, done } = runFixture('sysv-peer.mjs', [], { env });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  const ready = (await nextMessage(child, (m) => typeof (m as { ready?: number }).ready === 'number')) as {
    ready: number;
  };
  const send = async (command: Record<string, unknown>) => {
    const answer = nextMessage(child, (m) => (m as { reply?: string }).reply === command.cmd);
    child.send(command);
    return (await answer) as Record<string, unknown>;
  };
  const ask = async (command: Record<string, unknown>) => {
    const answer = await send(command);
    if (answer.error) throw Object.assign(new Error(`peer: ${JSON.stringify(answer.error)}`), answer.error);
    return answer;
  };
  return { child, pid: ready.ready, ask, send };
}

/** `ipcs -m -i ID` or `ipcs -s -i ID` as key=value pairs (and, for -s, the per-semaphore rows). */
export function ipcsInfo(kind: '-m' | '-s', id: number): { fields: Record<string, string>; rows: string[][] } {
  const text = execFileSync('ipcs', [kind, '-i', String(id)], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  });
  const fields: Record<string, string> = {};
  for (const match of text.matchAll(/([a-z_]+)\s*=\s*([^\s,]+)/g)) fields[match[1] as string] = match[2] as string;
  const rows = text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cells) => cells.length === 5 && cells.every((cell) => /^\d+$/.test(cell)));
  return { fields, rows };
}

/** The rows of `ipcs -m` / `ipcs -s` for `id` (key, id, owner, perms, ..., status). */
export function ipcsRow(kind: '-m' | '-s', id: number): string[] | undefined {
  return execFileSync('ipcs', [kind], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((cells) => cells[1] === String(id));
}

/**
 * The first Python that imports sysv_ipc: `python3` on PATH, else Debian's
 * own (python3-sysv-ipc installs into /usr/bin/python3's dist-packages, which
 * a pyenv or venv python3 earlier on PATH does not see).
 */
const PYTHON = ['python3', '/usr/bin/python3'].find(
  (python) => spawnSync(python, ['-c', 'import sysv_ipc'], { stdio: 'ignore' }).status === 0,
);

/** Whether Python's sysv_ipc (Debian's python3-sysv-ipc) can be imported. */
export const HAVE_SYSV_IPC = PYTHON !== undefined;

/** Runs a Python program (sys and sysv_ipc imported) and returns its stdout, trimmed. */
export function python(code: string, args: string[] = []): string {
  if (PYTHON === undefined) throw new Error('no Python with sysv_ipc (apt-get install python3-sysv-ipc)');
  return execFileSync(PYTHON, ['-c', `import sys, sysv_ipc\n${code}`, ...args], { encoding: 'utf8' }).trim();
}

/** Starts a Python program (sys and sysv_ipc imported) as a child process. */
export function spawnPython(code: string, args: string[] = []): ChildProcess {
  if (PYTHON === undefined) throw new Error('no Python with sysv_ipc (apt-get install python3-sysv-ipc)');
  return spawn(PYTHON, ['-c', `import sys, sysv_ipc\n${code}`, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}
