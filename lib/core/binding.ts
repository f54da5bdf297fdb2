/**
 * Loads the native addon (a prebuild from `prebuilds/` or the local build) and
 * describes its binding: one group per primitive, as native/core/addon.cc
 * exports them (`binding.shm.open`, `binding.sysv.send`, `binding.futex.wake`).
 * Everything here is internal: the public API validates arguments before it
 * reaches these functions. Errors thrown natively carry a `code`: system
 * errors `code`, `errno`, `syscall` and `objectName` (the object's name);
 * argument errors `ERR_INVALID_ARG_TYPE`/`ERR_INVALID_ARG_VALUE`/`ERR_OUT_OF_RANGE`;
 * use after close `ERR_SHMKIT_CLOSED`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { noBinaryError, unsupportedError } from './errors.js';

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
  /** System V shared memory, shmget(2)/shmat(2) (Linux only here). */
  readonly sysvShm: boolean;
  /** System V semaphore sets, semget(2)/semop(2) (Linux only here). */
  readonly sysvSem: boolean;
  /** POSIX message queues, mq_open(3) (absent on macOS). */
  readonly posixMq: boolean;
  /** Signal handlers that see the sender's siginfo, sigaction(2) SA_SIGINFO. */
  readonly siginfo: boolean;
  /** Signals carrying a value, sigqueue(3). */
  readonly sigqueue: boolean;
}

export type OpenMode = 'create' | 'open' | 'openOrCreate';
export type NativeWaitResult = 'ok' | 'not-equal' | 'timed-out' | 'cancelled';
/** Called on the event loop when an async wait ends (unless it was cancelled first). */
export type WaitCallback = (error: Error | null, result: NativeWaitResult | null) => void;

/** native/core/waiter.cc: every async wait of every group runs there. */
export interface WaiterBinding {
  /** Cancels a pending wait (its callback is never called); false if it had ended. */
  cancel(waitId: number): boolean;
}

/** native/primitives/shm.cc */
export interface ShmBinding {
  open(name: string, openMode: OpenMode, mode: number, readOnly: boolean): { fd: number; created: boolean };
  unlink(name: string): void;
  /**
   * One external ArrayBuffer over its own mapping of bytes [offset, offset + length) of `fd`
   * (offset 0 by default, a multiple of the page size); `name` is for error messages.
   * RangeError `ERR_SHMKIT_TOO_LARGE` if Node cannot make an ArrayBuffer that long.
   */
  map(fd: number, length: number, readOnly: boolean, name: string, offset?: number): ArrayBuffer;
  /** Detaches the buffer; the pages go once no wait sleeps on them. */
  unmap(buffer: ArrayBuffer): void;
  /** close(2) of a descriptor from `open` (natively: fs would warn inside a Worker). */
  close(fd: number, name: string): void;
  /** sysconf(_SC_PAGESIZE), in bytes. */
  pageSize(): number;
}

/** One sem_open'ed semaphore (native/primitives/semaphore.cc). */
export interface NativeSemaphore {
  readonly created: boolean;
  post(): void;
  tryWait(): boolean;
  waitSync(timeoutMs: number): 'ok' | 'timed-out';
  waitAsync(timeoutMs: number, ref: boolean, callback: WaitCallback): number;
  value(): number;
  close(): void;
}

/** native/primitives/semaphore.cc */
export interface SemaphoreBinding {
  Handle: new (name: string, openMode: OpenMode, mode: number, value: number) => NativeSemaphore;
  unlink(name: string): void;
}

/** native/primitives/futex.cc (Linux only: check `capabilities.futex`). */
export interface FutexBinding {
  waitSync(view: Int32Array, index: number, expected: number, timeoutMs: number): NativeWaitResult;
  waitAsync(
    view: Int32Array,
    index: number,
    expected: number,
    timeoutMs: number,
    ref: boolean,
    callback: WaitCallback,
  ): number;
  /** Returns how many sleepers were woken. */
  wake(view: Int32Array, index: number, count: number): number;
}

/** A System V message as msgrcv(2) returns it. */
export interface NativeSysvMessage {
  type: number;
  data: Buffer;
}

/** msgctl(2) IPC_STAT, with times in seconds since the epoch. */
export interface NativeSysvStat {
  messages: number;
  bytes: number;
  maxBytes: number;
  lastSendPid: number;
  lastReceivePid: number;
  lastSendTime: number;
  lastReceiveTime: number;
  changeTime: number;
  mode: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  key: number;
}

/** native/primitives/sysv-mq.cc (Linux only: check `capabilities.sysvMq`). */
export interface SysvBinding {
  /** msgget(2); openMode 'private' uses IPC_PRIVATE. */
  get(key: number, openMode: OpenMode | 'private', mode: number): { id: number; created: boolean };
  ftok(path: string, projId: number): number;
  /** False when the queue stayed full (nowait, or timeoutMs ran out). */
  send(id: number, type: number, data: Uint8Array, nowait: boolean, timeoutMs: number): boolean;
  /** Null when nothing came (nowait, or timeoutMs ran out). */
  receive(
    id: number,
    type: number,
    maxBytes: number,
    truncate: boolean,
    nowait: boolean,
    timeoutMs: number,
  ): NativeSysvMessage | null;
  sendAsync(
    id: number,
    type: number,
    data: Uint8Array,
    token: number,
    timeoutMs: number,
    ref: boolean,
    callback: WaitCallback,
  ): number;
  /** On 'ok' the message waits under `token` for take(). */
  receiveAsync(
    id: number,
    type: number,
    maxBytes: number,
    truncate: boolean,
    token: number,
    timeoutMs: number,
    ref: boolean,
    callback: WaitCallback,
  ): number;
  /** A fresh token for sendAsync/receiveAsync. */
  token(): number;
  /** The message received under `token`; with putBack, interrupts its wait and requeues it. */
  take(token: number, putBack: boolean): NativeSysvMessage | null;
  stat(id: number): NativeSysvStat;
  /** msgctl(2) IPC_SET; -1 leaves a field as it is. */
  set(id: number, maxBytes: number, mode: number): void;
  remove(id: number): void;
}

/** System V open modes: IPC_CREAT|IPC_EXCL, an existing key, or IPC_PRIVATE. */
export type SysvOpenMode = 'create' | 'open' | 'private';

/** shmctl(2) IPC_STAT, with times in seconds since the epoch. */
export interface NativeSysvShmStat {
  size: number;
  nattch: number;
  cpid: number;
  lpid: number;
  atime: number;
  dtime: number;
  ctime: number;
  mode: number;
  /** SHM_DEST: removed, alive until its last detach. */
  removed: boolean;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  key: number;
}

/** native/primitives/sysv-shm.cc (Linux only: check `capabilities.sysvShm`). */
export interface SysvShmBinding {
  /** shmget(2); 'open' takes size 0 (any size). */
  get(key: number, openMode: SysvOpenMode, size: number, mode: number): { id: number; created: boolean };
  /** shmat(2): one external ArrayBuffer over the whole segment, registered like shm.map's; detach with shm.unmap. */
  attach(id: number): ArrayBuffer;
  stat(id: number): NativeSysvShmStat;
  /** shmctl(2) IPC_SET of the permission bits. */
  setMode(id: number, mode: number): void;
  /** shmctl(2) IPC_RMID. */
  remove(id: number): void;
}

/** semctl(2) IPC_STAT, with times in seconds since the epoch. */
export interface NativeSysvSemStat {
  count: number;
  otime: number;
  ctime: number;
  mode: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  key: number;
}

/** native/primitives/sysv-sem.cc (Linux only: check `capabilities.sysvSem`). `ops`: (index, delta, flags) triples. */
export interface SysvSemBinding {
  /** semget(2); 'open' takes count 0. */
  get(key: number, openMode: SysvOpenMode, count: number, mode: number): { id: number; created: boolean };
  /** semop(2) with IPC_NOWAIT on every operation: false on EAGAIN. */
  tryOp(id: number, ops: Int32Array): boolean;
  /** semtimedop(2) on this thread; throws EAGAIN when an IPC_NOWAIT operation could not proceed. */
  opSync(id: number, ops: Int32Array, timeoutMs: number): 'ok' | 'timed-out';
  /** semtimedop(2) on a thread of the blocking pool. */
  opAsync(id: number, ops: Int32Array, timeoutMs: number, ref: boolean, callback: WaitCallback): number;
  getVal(id: number, index: number): number;
  setVal(id: number, index: number, value: number): void;
  getAll(id: number): number[];
  /** One value per semaphore of the set. */
  setAll(id: number, values: Int32Array): void;
  getNcnt(id: number, index: number): number;
  getZcnt(id: number, index: number): number;
  getPid(id: number, index: number): number;
  stat(id: number): NativeSysvSemStat;
  setMode(id: number, mode: number): void;
  remove(id: number): void;
}

/** mq_getattr(3). */
export interface NativePosixMqAttributes {
  maxMessages: number;
  messageSize: number;
  currentMessages: number;
}

/** One mq_open'ed descriptor, always O_NONBLOCK (native/primitives/posix-mq.cc). */
export interface NativePosixMq {
  readonly created: boolean;
  /** False if the queue is full. */
  send(data: Uint8Array, priority: number): boolean;
  /** Null when the queue is empty. */
  receive(): { data: Buffer; priority: number } | null;
  pollSync(events: 'in' | 'out', timeoutMs: number): 'ok' | 'timed-out';
  pollAsync(events: 'in' | 'out', timeoutMs: number, ref: boolean, callback: WaitCallback): number;
  attributes(): NativePosixMqAttributes;
  close(): void;
}

/** native/primitives/posix-mq.cc (Linux only: check `capabilities.posixMq`). */
export interface PosixMqBinding {
  /** maxMessages/messageSize 0 = the system defaults. */
  Handle: new (
    name: string,
    openMode: OpenMode,
    mode: number,
    maxMessages: number,
    messageSize: number,
  ) => NativePosixMq;
  unlink(name: string): void;
}

/** native/primitives/fifo.cc */
export interface FifoBinding {
  /** The mode is masked by the process umask. */
  mkfifo(path: string, mode: number): void;
}

/** native/primitives/signals.cc (Linux only: check `capabilities.siginfo`). */
export interface SignalsBinding {
  /** SIGRTMIN, SIGRTMAX and the SI_* codes of this platform. */
  readonly constants: Readonly<Record<string, number>>;
  /** Installs shmkit's handler for `signo`, chaining to the previous one if `chain`. */
  install(signo: number, chain: boolean): void;
  /** Puts the previous disposition back. */
  restore(signo: number): void;
  /** The records in the self-pipe, 6 ints each (signo, code, pid, uid, value, status). */
  drain(): Int32Array;
  /** Signals lost to a full pipe. */
  dropped(): number;
  /** Resolves 'ok' once the pipe has records to drain. */
  waitAsync(timeoutMs: number, ref: boolean, callback: WaitCallback): number;
  /** kill(2), or sigqueue(3) with a value. */
  send(pid: number, signo: number, value: number | undefined): void;
}

/** One pidfd_open(2) descriptor (native/primitives/pidfd.cc). */
export interface NativePidfd {
  /** Whether the process has terminated (a zombie counts). */
  exited(): boolean;
  /** Resolves 'ok' once the process exits (on the shared poll thread). */
  waitAsync(timeoutMs: number, ref: boolean, callback: WaitCallback): number;
  close(): void;
}

/** native/primitives/pidfd.cc (Linux only). */
export interface PidfdBinding {
  /** pidfd_open(pid, 0): `ESRCH` no such process, `ENOSYS` before Linux 5.3. */
  Handle: new (
    pid: number,
  ) => NativePidfd;
}

/**
 * The native addon. The Linux-only groups (futex, sysv, sysvShm, sysvSem, posixMq, signals, pidfd)
 * are absent elsewhere: every caller checks {@link capabilities} first.
 */
export interface Binding {
  readonly capabilities: Capabilities;
  readonly waiter: WaiterBinding;
  readonly shm: ShmBinding;
  readonly semaphore: SemaphoreBinding;
  readonly futex: FutexBinding;
  readonly sysv: SysvBinding;
  readonly sysvShm: SysvShmBinding;
  readonly sysvSem: SysvSemBinding;
  readonly posixMq: PosixMqBinding;
  readonly fifo: FifoBinding;
  readonly signals: SignalsBinding;
  readonly pidfd: PidfdBinding;
}

const SUPPORTED_PLATFORMS = ['linux', 'darwin'];

function load(): Binding {
  if (!SUPPORTED_PLATFORMS.includes(process.platform)) {
    throw unsupportedError(`shmkit supports Linux and macOS only; this process runs on '${process.platform}'.`);
  }
  // SHMKIT_ADDON_PATH: a .node file to load instead, e.g. the sanitized build
  // of scripts/test-sanitize.sh; children inherit it with the environment.
  const override = process.env.SHMKIT_ADDON_PATH;
  let file: string;
  try {
    // A build in build/ first, then prebuilds/<platform>-<arch>/ (node-gyp-build's order).
    file = override ? path.resolve(override) : nodeGypBuild.path(path.join(__dirname, '..', '..'));
  } catch (cause) {
    throw noBinaryError(nativeTarget(), undefined, { cause });
  }
  try {
    return createRequire(__filename)(file) as Binding;
  } catch (cause) {
    const reason = cause instanceof Error ? (cause.message.split('\n')[0] ?? '') : String(cause);
    throw noBinaryError(nativeTarget(), reason.includes(file) ? reason : `${file}: ${reason}`, { cause });
  }
}

/** 'linux-x64 (glibc 2.36)', as a prebuild's directory and libc tag would name it. */
function nativeTarget(): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc = header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'not glibc';
  return `${process.platform}-${process.arch} (${libc})`;
}

/** The native binding, loaded once. */
export const binding: Binding = load();

/** What the running platform offers, e.g. `capabilities.futex`. */
export const capabilities: Capabilities = binding.capabilities;

/**
 * Throws unless this platform offers `capability`, e.g.
 * `requireCapability('posixMq', 'POSIX message queues are')`.
 * @throws `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM` ("POSIX message queues are not available on darwin.").
 */
export function requireCapability(capability: keyof Capabilities, feature: string): void {
  if (!capabilities[capability]) {
    throw unsupportedError(`${feature} not available on ${process.platform}.`);
  }
}
