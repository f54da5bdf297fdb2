/** Shared test helpers: random names and real child processes. */
import { type ChildProcess, type ForkOptions, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** Every object a test creates starts with this, so global-leaks.ts can find leftovers. */
export const TEST_PREFIX = 'shmkit-test-';

/**
 * The prefix of this vitest run (set by global-leaks.ts), so that two runs at
 * once on one machine never judge each other's objects.
 */
export function runPrefix(): string {
  return `${TEST_PREFIX}${process.env.SHMKIT_TEST_RUN ?? process.ppid}-`;
}

export function uniqueName(kind: string): string {
  return `/${runPrefix()}${kind}-${randomBytes(6).toString('hex')}`;
}

export const FIXTURES = path.join(__dirname, 'fixtures');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  messages: unknown[];
  stderr: string;
}

/** Forks test/fixtures/<script> (an .mjs importing 'shmkit'), collecting its IPC messages. */
export function runFixture(
  script: string,
  args: string[],
  options: ForkOptions = {},
  onMessage?: (message: unknown, child: ChildProcess) => void,
): { child: ChildProcess; done: Promise<ChildResult> } {
  const child = fork(path.join(FIXTURES, script), args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], ...options });
  const messages: unknown[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  child.on('message', (message) => {
    messages.push(message);
    onMessage?.(message, child);
  });
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    // 'close', not 'exit': only then are all of its stderr and IPC messages in.
    child.on('close', (code, signal) => resolve({ code, signal, messages, stderr }));
  });
  return { child, done };
}

/** Resolves with the first IPC message from `child` that satisfies `match`. */
export function nextMessage(child: ChildProcess, match: (message: unknown) => boolean = () => true): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!match(message)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null) => reject(new Error(`child exited (code ${code}) before the message`));
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}
