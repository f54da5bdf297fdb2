/**
 * Signals with siginfo (Linux): who sent a signal (pid, uid) and the value
 * it carried (sigqueue(3)) — what `process.on('SIGUSR1')` cannot tell.
 *
 * `listen()` installs a sigaction(2) SA_SIGINFO handler that writes each
 * signal's siginfo to a non-blocking self-pipe (async-signal-safe) and then
 * calls the handler that was there before (libuv's, so `process.on`
 * listeners still run). The JS thread waits for the pipe on one of shmkit's
 * waiter threads and drains it on the event loop. Real-time signals arrive in
 * order with nothing lost (the kernel queues them, and only shmkit's catcher
 * thread takes a listened signal); standard signals coalesce while pending.
 * See docs/messaging.md.
 */
import os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { binding, requireCapability } from '../core/binding.js';
import { AbortError, codedError, timeoutError } from '../core/errors.js';
import { parseWaitOptions, type WaitOptions } from '../core/pending.js';
import {
  rangeError,
  typeError,
  validateBoolean,
  validateFunction,
  validateInteger,
  validateOptions,
  validateTimeoutMs,
  valueError,
} from '../core/validate.js';

/** The longest delay setTimeout takes (2^31 - 1 ms); a longer one fires at once. */
const TIMER_MAX_MS = 2147483647;

/** What a listener learns about one signal (siginfo_t). */
export interface SignalInfo {
  /** 'SIGUSR1', 'SIGRTMIN+1', … */
  signal: string;
  /** The signal's number on this platform. */
  signo: number;
  /** The sender's pid (si_pid; 0 for signals from the kernel). */
  pid: number;
  /** The sender's real uid (si_uid). */
  uid: number;
  /** The value given to sigqueue(3) (si_value.sival_int); undefined unless `code` is 'SI_QUEUE'. */
  value: number | undefined;
  /** How it was sent (si_code): 'SI_USER' (kill), 'SI_QUEUE' (sigqueue), 'SI_TKILL', 'SI_KERNEL', … or the number. */
  code: string;
}

export interface SignalListenOptions {
  /** Whether the subscription keeps the process alive (default false, like `process.on`). */
  ref?: boolean;
  /**
   * Whether the handler installed before shmkit's (libuv's, which runs
   * `process.on` listeners) still runs (default true). Node's own SIGUSR1
   * handler, which starts the inspector, is never chained to.
   */
  chain?: boolean;
}

/** `signals.once` takes the options of every wait. */
export type SignalOnceOptions = WaitOptions;

export interface SignalSendOptions {
  /** A 32-bit integer to send with sigqueue(3) (si_value.sival_int); without it, kill(2) is used. */
  value?: number;
}

/** A listener's handle: unsubscribe() (or `using`) restores the previous disposition. */
export interface Subscription extends Disposable {
  /** The signals listened to, by name. */
  readonly signals: readonly string[];
  /** Stops listening; when no subscription is left for a signal, its previous disposition comes back. Safe twice. */
  unsubscribe(): void;
}

// Synchronous faults (a handler that returns would re-run the faulting
// instruction) and signals that cannot be caught.
const REFUSED = new Set(['SIGKILL', 'SIGSTOP', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGTRAP', 'SIGSYS']);

function constants(): Record<string, number> {
  requireCapability('siginfo', 'shmkit signals with siginfo are');
  return binding.signals.constants;
}

const standardNames = new Map<number, string>();
for (const [name, number] of Object.entries(os.constants.signals)) {
  if (!standardNames.has(number)) standardNames.set(number, name);
}

/** The signal number of `name` ('SIGTERM', 'SIGRTMIN+3', 'SIGRTMAX-1'). */
function parseSignal(value: unknown, argName: string): number {
  const { SIGRTMIN, SIGRTMAX } = constants() as { SIGRTMIN: number; SIGRTMAX: number };
  if (typeof value !== 'string') throw typeError(argName, "a signal name such as 'SIGUSR1' or 'SIGRTMIN+1'", value);
  const standard = (os.constants.signals as Record<string, number>)[value];
  if (standard !== undefined) return standard;
  const match = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,3}))?$/.exec(value);
  if (match) {
    const base = match[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const offset = match[2] ? Number(match[3]) * (match[2] === '+' ? 1 : -1) : 0;
    const number = base + offset;
    if (number >= SIGRTMIN && number <= SIGRTMAX) return number;
    throw rangeError(argName, `a real-time signal from SIGRTMIN (${SIGRTMIN}) to SIGRTMAX (${SIGRTMAX})`, value);
  }
  throw valueError(argName, "must be a signal name such as 'SIGUSR1' or 'SIGRTMIN+1'", value);
}

function signalName(signo: number): string {
  const { SIGRTMIN, SIGRTMAX } = binding.signals.constants as { SIGRTMIN: number; SIGRTMAX: number };
  if (signo >= SIGRTMIN && signo <= SIGRTMAX) return signo === SIGRTMIN ? 'SIGRTMIN' : `SIGRTMIN+${signo - SIGRTMIN}`;
  return standardNames.get(signo) ?? `SIG${signo}`;
}

function listenable(value: unknown, argName: string): number {
  const signo = parseSignal(value, argName);
  const name = signalName(signo);
  if (REFUSED.has(name)) throw valueError(argName, `cannot be listened to (${name} cannot be caught safely)`, value);
  if (signo === binding.signals.constants.SIGRTMAX) {
    throw valueError(argName, 'is reserved by shmkit (it interrupts System V message queue waits)', value);
  }
  return signo;
}

let codeNames: Map<number, string> | undefined;
function codeName(code: number): string {
  if (!codeNames) {
    codeNames = new Map();
    for (const [name, number] of Object.entries(binding.signals.constants)) {
      if (name.startsWith('SI_')) codeNames.set(number, name);
    }
  }
  return codeNames.get(code) ?? String(code);
}

interface Listener {
  handler: (info: SignalInfo) => void;
  ref: boolean;
}

const listeners = new Map<number, Set<Listener>>();
let waitId: number | undefined;
let waitRef = false;

function dispatch(records: Int32Array, to: Map<number, Set<Listener>> = listeners): void {
  const SI_QUEUE = binding.signals.constants.SI_QUEUE;
  for (let i = 0; i + 6 <= records.length; i += 6) {
    const signo = records[i] as number;
    const set = to.get(signo);
    if (!set) continue;
    const code = records[i + 1] as number;
    const info: SignalInfo = {
      signal: signalName(signo),
      signo,
      pid: records[i + 2] as number,
      uid: (records[i + 3] as number) >>> 0,
      value: code === SI_QUEUE ? (records[i + 4] as number) : undefined,
      code: codeName(code),
    };
    for (const listener of [...set]) {
      try {
        listener.handler(info);
      } catch (error) {
        process.nextTick(() => {
          throw error;
        });
      }
    }
  }
}

/** Keeps exactly one wait on the self-pipe while anyone listens, ref'd if any listener is. */
function pump(): void {
  if (listeners.size === 0) {
    if (waitId !== undefined) binding.waiter.cancel(waitId);
    waitId = undefined;
    return;
  }
  let ref = false;
  for (const set of listeners.values()) for (const listener of set) ref ||= listener.ref;
  if (waitId !== undefined && waitRef === ref) return;
  if (waitId !== undefined) binding.waiter.cancel(waitId);
  waitRef = ref;
  const id = binding.signals.waitAsync(-1, ref, (error) => {
    if (waitId !== id) return;
    waitId = undefined;
    if (error) process.emitWarning(`shmkit signals: ${error.message}`);
    for (let records = binding.signals.drain(); records.length > 0; records = binding.signals.drain())
      dispatch(records);
    pump();
  });
  waitId = id;
}

/**
 * Takes the signals already in the pipe, for the listeners there were when
 * they arrived: a new listener only hears signals received after it subscribed.
 */
function flushForCurrentListeners(): void {
  if (listeners.size === 0) return;
  const chunks: Int32Array[] = [];
  for (let records = binding.signals.drain(); records.length > 0; records = binding.signals.drain())
    chunks.push(records);
  if (chunks.length === 0) return;
  const snapshot = new Map([...listeners].map(([signo, set]) => [signo, new Set(set)]));
  queueMicrotask(() => {
    for (const records of chunks) dispatch(records, snapshot);
  });
}

function subscribe(signos: number[], listener: Listener, chain: boolean): () => void {
  flushForCurrentListeners();
  for (const signo of signos) {
    let set = listeners.get(signo);
    if (!set) {
      binding.signals.install(signo, chain);
      set = new Set();
      listeners.set(signo, set);
    }
    set.add(listener);
  }
  pump();
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const signo of signos) {
      const set = listeners.get(signo);
      if (!set) continue;
      set.delete(listener);
      if (set.size === 0) {
        // Records already in the pipe for this signal are dropped by dispatch().
        listeners.delete(signo);
        binding.signals.restore(signo);
      }
    }
    pump();
  };
}

function requireMainThread(): void {
  if (!isMainThread) {
    throw codedError(
      'ERR_SHMKIT_MAIN_THREAD_ONLY',
      'shmkit signals can only be listened to on the main thread: listen there and post to workers.',
    );
  }
}

/**
 * Calls `handler` with the siginfo of every `signal` this process receives,
 * on the event loop. While subscribed, the signal's default action (for
 * example SIGTERM's termination) does not happen — as with `process.on`.
 * Handlers already installed for the signal (libuv's for `process.on`) still
 * run, unless `chain: false`.
 * @param signals a name ('SIGUSR2', 'SIGRTMIN+1') or a list of names. SIGKILL, SIGSTOP, the
 * synchronous faults and SIGRTMAX (used by shmkit) are refused.
 * @throws TypeError/RangeError for bad names; `EINVAL` from sigaction(2); `ERR_SHMKIT_MAIN_THREAD_ONLY`
 * in a worker thread.
 */
function listen(
  signals: string | readonly string[],
  handler: (info: SignalInfo) => void,
  options?: SignalListenOptions,
) {
  const list = typeof signals === 'string' ? [signals] : signals;
  if (!Array.isArray(list) || list.length === 0) {
    throw typeError('signals', 'a signal name or a non-empty array of names', signals);
  }
  const signos = [...new Set(list.map((name, i) => listenable(name, `signals[${i}]`)))];
  validateFunction(handler, 'handler');
  const opts = validateOptions(options);
  const ref = opts.ref === undefined ? false : validateBoolean(opts.ref, 'options.ref');
  const chain = opts.chain === undefined ? true : validateBoolean(opts.chain, 'options.chain');
  requireMainThread();
  const unsubscribe = subscribe(signos, { handler, ref }, chain);
  const subscription: Subscription = {
    signals: signos.map(signalName),
    unsubscribe,
    [Symbol.dispose]: unsubscribe,
  };
  return subscription;
}

/**
 * Resolves with the siginfo of the next `signal` this process receives.
 * @throws (rejects) `ETIMEDOUT` after `timeoutMs`; an `AbortError` when `options.signal` aborts.
 */
function once(signal: string, options?: SignalOnceOptions): Promise<SignalInfo> {
  try {
    const signo = listenable(signal, 'signal');
    const opts = parseWaitOptions(options);
    const timeoutMs = validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs');
    const abort = opts.signal;
    const ref = opts.ref ?? true;
    requireMainThread();
    if (abort?.aborted) return Promise.reject(new AbortError(undefined, { cause: abort.reason }));
    return new Promise<SignalInfo>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        unsubscribe();
        if (timer) clearTimeout(timer);
        abort?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        finish();
        reject(new AbortError(undefined, { cause: abort?.reason }));
      };
      const unsubscribe = subscribe(
        [signo],
        {
          handler: (info) => {
            finish();
            resolve(info);
          },
          ref,
        },
        true,
      );
      // setTimeout fires at once past 2^31 - 1 ms: a longer timeout re-arms in steps.
      const arm = (leftMs: number) => {
        timer = setTimeout(
          () => {
            if (leftMs > TIMER_MAX_MS) return arm(leftMs - TIMER_MAX_MS);
            finish();
            reject(timeoutError('sigtimedwait', signalName(signo), timeoutMs));
          },
          Math.min(leftMs, TIMER_MAX_MS),
        );
        if (!ref) timer.unref();
      };
      if (timeoutMs >= 0) arm(timeoutMs);
      abort?.addEventListener('abort', onAbort, { once: true });
    });
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Sends `signal` to process `pid`: kill(2), or sigqueue(3) when a `value` is
 * given (the receiver's siginfo carries it, and real-time signals queue).
 * @param pid a process id (> 0), or as kill(2): 0 for the process group, < -1 for group -pid.
 * @throws `ESRCH` if there is no such process; `EPERM` without permission; `EAGAIN` when the
 * receiver's queue of real-time signals (RLIMIT_SIGPENDING) is full.
 */
function send(pid: number, signal: string, options?: SignalSendOptions): void {
  validateInteger(pid, 'pid', -2147483647, 2147483647);
  if (pid === -1) throw rangeError('pid', 'not -1 (every process shmkit may signal)', pid);
  const signo = parseSignal(signal, 'signal');
  const opts = validateOptions(options);
  const value =
    opts.value === undefined ? undefined : validateInteger(opts.value, 'options.value', -2147483648, 2147483647);
  if (value !== undefined && pid <= 0) throw rangeError('pid', 'a process id > 0 with a value (sigqueue)', pid);
  binding.signals.send(pid, signo, value);
}

/** The number of a signal name on this platform ('SIGRTMIN+1' → 35 on Linux). */
function number(signal: string): number {
  return parseSignal(signal, 'signal');
}

/** Signals that arrived while shmkit's pipe was full and so were not delivered (should stay 0). */
function dropped(): number {
  constants();
  return binding.signals.dropped();
}

/** Signals with siginfo: `signals.listen`, `signals.once`, `signals.send`. */
export const signals = { listen, once, send, number, dropped } as const;
