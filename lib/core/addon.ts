/**
 * Loads the native addon (a prebuild from `prebuilds/` or the local build) and
 * describes its raw binding. Everything here is internal: the public API
 * validates arguments before it reaches these functions.
 */
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';

/** Which kernel primitives this platform offers. */
export interface Capabilities {
  /** POSIX shared memory, shm_open(3). */
  readonly shm: boolean;
  /** POSIX named semaphores, sem_open(3). */
  readonly namedSemaphores: boolean;
  /** Timed semaphore waits, sem_timedwait(3) (absent on macOS). */
  readonly semTimedwait: boolean;
  /** futex(2) wait/wake (Linux only). */
  readonly futex: boolean;
  /** mkfifo(3) named pipes. */
  readonly fifo: boolean;
  /** System V message queues, msgget(2)/msgsnd(2)/msgrcv(2). */
  readonly sysvMq: boolean;
  /** POSIX message queues, mq_open(3) (absent on macOS). */
  readonly posixMq: boolean;
  /** Signal handlers that see the sender's siginfo, sigaction(2) SA_SIGINFO. */
  readonly siginfo: boolean;
  /** Signals carrying a value, sigqueue(3). */
  readonly sigqueue: boolean;
}

export type OpenMode = 'create' | 'open' | 'openOrCreate';
export type NativeWaitResult = 'ok' | 'not-equal' | 'timed-out' | 'cancelled';
export type WaitCallback = (error: Error | null, result: NativeWaitResult | null) => void;

export interface NativeSemaphore {
  readonly created: boolean;
  post(): void;
  tryWait(): boolean;
  waitSync(timeoutMs: number): 'ok' | 'timed-out';
  waitAsync(timeoutMs: number, ref: boolean, callback: WaitCallback): number;
  value(): number;
  close(): void;
}

export interface Binding {
  readonly capabilities: Capabilities;
  cancelWait(waitId: number): boolean;
  shmOpen(name: string, openMode: OpenMode, readOnly: boolean, mode: number): { fd: number; created: boolean };
  shmUnlink(name: string): void;
  mapShared(fd: number, length: number, readOnly: boolean, name: string): ArrayBuffer;
  unmap(buffer: ArrayBuffer): void;
  SemaphoreHandle: new (name: string, openMode: OpenMode, mode: number, value: number) => NativeSemaphore;
  semUnlink(name: string): void;
  futexWaitSync(view: Int32Array, index: number, expected: number, timeoutMs: number): NativeWaitResult;
  futexWaitAsync(
    view: Int32Array,
    index: number,
    expected: number,
    timeoutMs: number,
    ref: boolean,
    callback: WaitCallback,
  ): number;
  futexWake(view: Int32Array, index: number, count: number): number;
}

const SUPPORTED_PLATFORMS = ['linux', 'darwin'];

function load(): Binding {
  if (!SUPPORTED_PLATFORMS.includes(process.platform)) {
    throw new Error(`shmkit supports Linux and macOS only; this process runs on '${process.platform}'.`);
  }
  const root = path.join(__dirname, '..', '..');
  try {
    return nodeGypBuild(root) as Binding;
  } catch (cause) {
    throw new Error(
      `shmkit's native addon is missing for ${process.platform}-${process.arch}: run \`npm rebuild shmkit\` (needs cmake and a C++ compiler).`,
      { cause },
    );
  }
}

/** The raw native binding, loaded once. */
export const native: Binding = load();

/** What the running platform offers, e.g. `capabilities.futex`. */
export const capabilities: Capabilities = native.capabilities;
