/**
 * Service: the server of request/response and streams over shared memory
 * (docs/services.md). One header (./header.ts) announces it; each client
 * connects through a pair of SPSC rings (./connection.ts). The serve loop
 * drains every request ring, spins briefly, then sleeps on the header's one
 * doorbell word, so N idle clients cost one futex sleep.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { codedError } from '../core/errors.js';
import { NAME_MAX, posixName } from '../core/names.js';
import { processLife, processStartTicks } from '../core/processes.js';
import { typeError, validateFunction, validateInteger, validateMode, validateOptions } from '../core/validate.js';
import { signals } from '../primitives/signals.js';
import { type CodecSpec, type ResolvedCodec, resolveCodec } from '../structures/codecs.js';
import { RingBuffer } from '../structures/ring/ring-buffer.js';
import { Connection, type DisconnectReason } from './connection.js';
import { type ErrorPayload, encodeErrorPayload, errorPayload, serviceError } from './errors.js';
import {
  COUNTER,
  type CounterName,
  encodeFrame,
  headerBytes,
  MAGIC,
  REQ,
  RES,
  readCredit,
  ringNames,
  type ServiceState,
  SLOT_STATE,
  STATE_NAMES,
  STREAM_WINDOW,
  VERSION,
} from './format.js';
import { helloPayload, jsonBytes, readJson } from './handshake.js';
import { MAX_CLIENTS, ServiceHeader } from './header.js';
import { type CallContext, InFlightCall } from './in-flight.js';
import { MethodMetrics, type MethodStats, metricsText } from './metrics.js';
import { type FrameReader, type TakenFrame, takeFrame } from './take-frame.js';

/** A handler: returns the result (or a promise of it); for a stream, an (async) iterable of chunks. */
// biome-ignore lint/suspicious/noExplicitAny: a handler takes whatever its callers send; it checks it
export type Handler = (params: any, ctx: CallContext) => unknown;

/** @internal The context of a call from outside shared memory (shmkit/nats): `client` describes the caller. */
export interface RemoteCallContext {
  readonly signal: AbortSignal;
  readonly method: string;
  readonly client: unknown;
}

/** Options of {@link Service.create}. */
export interface ServiceOptions {
  /** The codec of params, results, chunks and events: 'msgpack' (default), 'json', 'v8' or a custom codec. */
  codec?: CodecSpec<unknown>;
  /** Connections at once (default 64, at most 4096); one more gets `ERR_SHMKIT_SERVICE_FULL`. */
  maxClients?: number;
  /** Bytes of each connection's request ring (a power of two, default 1 MiB). */
  requestCapacityBytes?: number;
  /** Bytes of each connection's response ring (a power of two, default 1 MiB). */
  responseCapacityBytes?: number;
  /** Calls one client may have in flight (default 256); beyond, its calls wait (or reject `ERR_SHMKIT_OVERLOADED`). */
  maxInFlightPerClient?: number;
  /** Response bytes queued for one client whose ring is full before it is evicted ('slow-consumer'); default 4 × responseCapacityBytes. */
  maxQueuedBytesPerClient?: number;
  /** How long the serve loop polls the rings before it sleeps, in µs (default 20). */
  spinUs?: number;
  /** Permission bits of the header and the rings (default 0o600). */
  mode?: number;
}

/** Options of {@link Service.close}. */
export interface ServiceCloseOptions {
  /** How long in-flight calls may take to finish before they are aborted, in ms (default 5000). */
  drainTimeoutMs?: number;
}

/** One service as {@link Service.list} finds it in /dev/shm. */
export interface ServiceInfo {
  name: string;
  pid: number;
  alive: boolean;
  state: ServiceState;
  clients: number;
  maxClients: number;
  createdAt: Date;
}

/**
 * The service's counters (also in its shared header, for other processes):
 * calls started, completed, failed (the handler threw), cancelled (the
 * caller gave up, or its connection ended), in flight now and at the peak;
 * bytes in and out (frames); connections and disconnections, evictions,
 * notifications (broadcasts sent), stream chunks sent.
 */
export type ServiceStats = Record<CounterName, number>;

const DEFAULT_CAPACITY = 1 << 20;

/**
 * A service: named handlers that clients in other processes call
 * (request/response) or stream from, over shared memory.
 * ```ts
 * const svc = Service.create('/calc', { codec: 'msgpack' });
 * svc.handle('add', ({ a, b }) => a + b);
 * await svc.listen();
 * // ...
 * await svc.close({ drainTimeoutMs: 5000 });
 * ```
 * Events: 'connection' (conn), 'disconnect' (conn, reason: 'closed' | 'died' |
 * 'slow-consumer' | 'protocol'), 'error' (an error of the serve loop).
 * Errors: `EEXIST` when a live server serves the name; `ERR_SHMKIT_CLOSED` after close().
 */
export class Service extends EventEmitter {
  readonly name: string;
  readonly #header: ServiceHeader;
  readonly #methods = new MethodMetrics();
  /** The counters as they were when close() removed the header. */
  #finalStats: ServiceStats | undefined;
  readonly #codec: ResolvedCodec<unknown>;
  /** How the serve loop reads its requests: calls, streams and notifications carry the codec's values. */
  readonly #reader: FrameReader;
  readonly #handlers = new Map<string, Handler>();
  readonly #connections = new Map<number, Connection>(); // by slot
  readonly #spinUs: number;
  readonly #maxQueued: number;
  readonly #stop = new AbortController();
  #serving: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #forced = false;
  #idleWaiters: Array<() => void> = [];
  /** Calls in flight over every connection, and the peak (kept here: the header's copies are for other processes). */
  #inFlightCount = 0;
  #peakInFlight = 0;

  private constructor(
    name: string,
    header: ServiceHeader,
    codec: ResolvedCodec<unknown>,
    spinUs: number,
    maxQueued: number,
  ) {
    super();
    this.name = name;
    this.#header = header;
    this.#codec = codec;
    this.#reader = {
      valueTypes: (1 << REQ.call) | (1 << REQ.stream) | (1 << REQ.notify),
      codec,
      name,
      owner: `Service '${name}'`,
      undefinedWhenEmpty: 0,
    };
    this.#spinUs = spinUs;
    this.#maxQueued = maxQueued;
  }

  /**
   * Creates the service's header (shm_open(3) O_EXCL). A header left by a
   * server that died is taken over: its connections' rings and the header
   * are removed first.
   * @throws `EEXIST` when a live server (pid and start time) serves `name`, or
   * the name holds something that is not a service; RangeError/TypeError for bad options.
   */
  static create(name: string, options?: ServiceOptions): Service {
    name = serviceName(name);
    const opts = validateOptions(options);
    const codec = resolveCodec<unknown>(opts.codec ?? 'msgpack');
    const limits = {
      maxClients:
        opts.maxClients === undefined ? 64 : validateInteger(opts.maxClients, 'options.maxClients', 1, MAX_CLIENTS),
      maxInFlightPerClient:
        opts.maxInFlightPerClient === undefined
          ? 256
          : validateInteger(opts.maxInFlightPerClient, 'options.maxInFlightPerClient', 1, 1 << 20),
      requestCapacityBytes: capacity(opts.requestCapacityBytes, 'options.requestCapacityBytes'),
      responseCapacityBytes: capacity(opts.responseCapacityBytes, 'options.responseCapacityBytes'),
    };
    const spinUs = opts.spinUs === undefined ? 20 : validateInteger(opts.spinUs, 'options.spinUs', 0, 1_000_000);
    const maxQueued =
      opts.maxQueuedBytesPerClient === undefined
        ? 4 * limits.responseCapacityBytes
        : validateInteger(opts.maxQueuedBytesPerClient, 'options.maxQueuedBytesPerClient', 1, Number.MAX_SAFE_INTEGER);
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const server = { pid: process.pid, startTicks: processStartTicks('self') ?? 0 };
    let header: ServiceHeader;
    try {
      header = ServiceHeader.create(name, limits, codec.fingerprint, mode, server);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      takeOver(name);
      header = ServiceHeader.create(name, limits, codec.fingerprint, mode, server);
    }
    return new Service(name, header, codec, spinUs, maxQueued);
  }

  /**
   * The services in /dev/shm (any user's this process can read), with their
   * server's liveness.
   */
  static list(): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    let entries: string[] = [];
    try {
      entries = fs.readdirSync('/dev/shm');
    } catch {
      return out;
    }
    for (const entry of entries) {
      const info = readInfo(`/${entry}`);
      if (!info) continue;
      const { counters: _counters, ...rest } = info;
      out.push(rest);
    }
    return out;
  }

  /**
   * One service's info and the counters of its shared header, read from
   * /dev/shm without mapping it (what `shmkit stat` prints); undefined when
   * `name` is no service (or not readable by this user).
   */
  static stat(name: string): (ServiceInfo & { counters: ServiceStats }) | undefined {
    const info = readInfo(serviceName(name));
    if (!info) return undefined;
    return info;
  }

  /** Registers `handler` for `method` (replacing one registered before). Returns the service. */
  handle(method: string, handler: Handler): this {
    requireString(method, 'method');
    validateFunction(handler, 'handler');
    this.#handlers.set(method, handler);
    return this;
  }

  /**
   * @internal For shmkit/nats (lib/nats/expose.ts): runs `method`'s handler
   * for a caller outside shared memory, with `ctx` (its signal, the method,
   * a description of the remote caller) as its context, and returns what the
   * handler returns (a value, a promise, an iterable). Not counted in
   * stats(), nor waited for by close()'s drain.
   * @throws `ERR_SHMKIT_NO_SUCH_METHOD` (no handler), `ERR_SHMKIT_SERVICE_DRAINING` (not listening).
   */
  runRemote(method: string, params: unknown, ctx: RemoteCallContext): unknown {
    const state = this.#header.state;
    if (state !== 'listening')
      throw serviceError('ERR_SHMKIT_SERVICE_DRAINING', this.name, `it is ${state}: no new calls`);
    const handler = this.#handlers.get(method);
    if (!handler) throw codedError('ERR_SHMKIT_NO_SUCH_METHOD', `service '${this.name}' has no method '${method}'`);
    return handler(params, ctx as unknown as CallContext);
  }

  /** @internal For shmkit/nats: the service's codec. */
  get remoteCodec(): ResolvedCodec<unknown> {
    return this.#codec;
  }

  /** The state in the header: 'starting', 'listening', 'draining' or 'closed'. */
  get state(): ServiceState {
    return this.#header.state;
  }

  /** The connections now. */
  get connections(): Connection[] {
    return [...this.#connections.values()];
  }

  /**
   * Starts serving: the header says 'listening' (clients waiting for the
   * service proceed) and the serve loop runs until close(). The service
   * keeps the process alive while it listens.
   */
  async listen(): Promise<void> {
    if (this.#serving) return;
    this.#header.setState('listening');
    this.#serving = this.#serve().catch((error) => {
      this.emit('error', error);
    });
  }

  /** Sends event `event` with `value` to every connected client ('notification' on the client). */
  broadcast(event: string, value: unknown): void {
    requireString(event, 'event');
    const frame = encodeFrame(RES.event, 0, event, this.#encode(value));
    for (const conn of this.#connections.values()) if (conn.welcomed) conn.send(frame);
    this.#header.count('notifications');
  }

  /** The counters of the header: calls started/completed/failed/cancelled, in flight and peak, bytes, connections… */
  /**
   * Per-method durations of the calls this server answered (result, error or
   * a stream's end), from a call's arrival to its answer, in µs: `{ [method]:
   * { calls, p50Us, p90Us, p99Us, maxUs, meanUs } }`. Kept in this process
   * only (the counters of {@link stats} are in the shared header).
   */
  methodStats(): Record<string, MethodStats> {
    return this.#methods.snapshot();
  }

  /**
   * The counters and per-method durations in the Prometheus text exposition
   * format (version 0.0.4), for a /metrics endpoint:
   * `shmkit_service_calls_started_total{service="/calc"} 42`, …, and the
   * summary `shmkit_service_call_duration_seconds{service,method,quantile}`.
   */
  metricsText(): string {
    return metricsText(this.name, this.stats(), this.#methods.snapshot());
  }

  stats(): ServiceStats {
    return this.#finalStats ?? this.#header.counters();
  }

  /**
   * Closes gracefully: the header says 'draining', every client gets a
   * GOAWAY, new calls are refused (`ERR_SHMKIT_SERVICE_DRAINING`), in-flight
   * calls may finish for `drainTimeoutMs`; then (or on a second close()) the
   * rest are aborted, clients get `ERR_SHMKIT_SERVICE_CLOSED`, and the header
   * and every ring are removed.
   */
  close(options?: ServiceCloseOptions): Promise<void> {
    const opts = validateOptions(options);
    const drainTimeoutMs =
      opts.drainTimeoutMs === undefined
        ? 5000
        : validateInteger(opts.drainTimeoutMs, 'options.drainTimeoutMs', 0, 2 ** 31 - 1);
    if (this.#closing) {
      this.#forced = true;
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
      return this.#closing;
    }
    this.#closing = this.#drainAndClose(drainTimeoutMs);
    return this.#closing;
  }

  /**
   * Closes on the first of `names` received (gracefully), and forces the
   * close on the second. Returns a function that stops listening for them.
   */
  closeOnSignals(names: readonly string[] = ['SIGTERM', 'SIGINT'], options?: ServiceCloseOptions): () => void {
    const subscription = signals.listen(names, () => {
      void this.close(options);
    });
    return () => subscription.unsubscribe();
  }

  async #drainAndClose(drainTimeoutMs: number): Promise<void> {
    if (this.#header.state === 'listening' || this.#header.state === 'starting') this.#header.setState('draining');
    const goaway = encodeFrame(RES.goaway, 0, '', new Uint8Array(0));
    for (const conn of this.#connections.values()) conn.send(goaway);
    const timer = setTimeout(() => {
      this.#forced = true;
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }, drainTimeoutMs);
    while (!this.#forced && this.#inFlightCount > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    // The answers of the last calls may still sit in a queue (a full ring): let them go out too.
    const forced = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    if (!this.#forced) await Promise.race([Promise.all(this.connections.map((conn) => conn.drained())), forced]);
    clearTimeout(timer);
    // Read what clients published before the end: notifications run, goodbyes
    // are taken, late calls are refused (draining) rather than lost unanswered.
    this.#pollOnce();
    for (const conn of this.#connections.values()) this.#drop(conn, 'closed', false);
    this.#header.setState('closed');
    this.#stop.abort();
    this.#header.wakeServer();
    await this.#serving;
    this.#finalStats = this.#header.counters(); // stats() still answers once the header is gone
    this.#header.close();
    try {
      ServiceHeader.unlink(this.name);
    } catch {
      // already gone
    }
  }

  // ---------------------------------------------------------------- the serve loop

  async #serve(): Promise<void> {
    let turns = 0;
    while (!this.#stop.signal.aborted) {
      if (this.#pollOnce()) {
        // Let the handlers' promises and timers run between batches.
        if ((++turns & 7) === 0) await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#spin()) continue;
      const expected = this.#header.armDoorbell();
      if (this.#pollOnce()) continue;
      try {
        await this.#header.sleepOnDoorbell(expected, { signal: this.#stop.signal, ref: true });
      } catch {
        // aborted by close()
      }
    }
  }

  /** Polls for up to spinUs; true if there is work. */
  #spin(): boolean {
    if (this.#spinUs === 0) return false;
    const until = performance.now() + this.#spinUs / 1000;
    do {
      if (this.#pollOnce()) return true;
    } while (performance.now() < until);
    return false;
  }

  /** One pass: new connections, then up to 64 frames of each connection. True if anything happened. */
  #pollOnce(): boolean {
    let worked = this.#accept();
    for (const conn of this.#connections.values()) {
      for (let n = 0; n < 64; n++) {
        let frame: TakenFrame | null | undefined;
        try {
          frame = takeFrame(conn.req, this.#reader);
        } catch {
          this.#drop(conn, 'protocol'); // a corrupt ring: only this connection ends
          break;
        }
        if (frame === undefined) break;
        worked = true;
        if (frame === null) {
          this.#drop(conn, 'protocol');
          break;
        }
        this.#header.count('bytesIn', frame.size);
        this.#onFrame(conn, frame);
        if (conn.ended.signal.aborted) break;
      }
    }
    return worked;
  }

  /** Opens the rings of slots whose clients are ready (a new generation). */
  #accept(): boolean {
    let accepted = false;
    const header = this.#header;
    for (let slot = 0; slot < header.limits.maxClients; slot++) {
      // One atomic load per slot and no allocation: this runs on every pass of the serve loop.
      if (header.slotState(slot) !== SLOT_STATE.ready) continue;
      const at = header.slot(slot);
      if (at.state !== SLOT_STATE.ready) continue;
      const known = this.#connections.get(slot);
      if (known && known.generation === at.generation) continue;
      if (known) this.#drop(known, 'closed');
      const names = ringNames(this.name, slot, at.generation);
      let conn: Connection;
      try {
        conn = new Connection(names, { slot, generation: at.generation, pid: at.pid }, this.#maxQueued, (reason) =>
          this.#drop(conn, reason),
        );
      } catch {
        this.#header.freeSlot(slot); // its rings are not there: a client that died mid-connect
        continue;
      }
      this.#header.setSlotState(slot, SLOT_STATE.connected);
      this.#connections.set(slot, conn);
      try {
        conn.watch(at.startTicks, () => this.#drop(conn, 'died'));
      } catch {
        this.#drop(conn, 'protocol'); // a pid or start time no process can have: the slot was written over
      }
      accepted = true;
    }
    return accepted;
  }

  #onFrame(conn: Connection, frame: TakenFrame): void {
    switch (frame.type) {
      case REQ.hello:
        this.#onHello(conn, frame);
        break;
      case REQ.call:
      case REQ.stream:
        this.#onCall(conn, frame);
        break;
      case REQ.notify:
        this.#onNotify(conn, frame);
        break;
      case REQ.cancel: {
        const call = conn.inFlight.get(frame.id);
        if (call && frame.name === 'timed-out') this.#header.count('callsTimedOut');
        call?.abort();
        break;
      }
      case REQ.credit: {
        const stream = conn.streams.get(frame.id);
        if (!stream) break; // ended meanwhile
        stream.credit = Math.min(stream.credit + readCredit(frame.payload), 2 ** 31);
        stream.wake?.();
        break;
      }
      case REQ.bye:
        this.#drop(conn, 'closed');
        break;
      default:
        this.#drop(conn, 'protocol');
    }
  }

  #onHello(conn: Connection, frame: TakenFrame): void {
    if (conn.welcomed) {
      this.#drop(conn, 'protocol'); // a second HELLO: not a client of this protocol
      return;
    }
    const hello = readJson(frame.payload) as { version?: unknown; codec?: unknown } | undefined;
    const refuse = (code: string, message: string) => {
      conn.send(encodeFrame(RES.refuse, 0, '', jsonBytes({ code, message })));
      this.#drop(conn, 'protocol', false);
    };
    if (!hello || hello.version !== VERSION) {
      refuse(
        'ERR_SHMKIT_PROTOCOL_MISMATCH',
        `protocol version ${String(hello?.version)}, the service speaks ${VERSION}`,
      );
      return;
    }
    if (hello.codec !== this.#codec.fingerprint) {
      refuse('ERR_SHMKIT_CODEC_MISMATCH', `the client's codec differs from the service's (${this.#codec.description})`);
      return;
    }
    conn.welcomed = true;
    conn.send(encodeFrame(RES.welcome, 0, '', helloPayload(this.#header.limits)));
    this.#header.count('connections');
    this.emit('connection', conn);
  }

  #onNotify(conn: Connection, frame: TakenFrame): void {
    const handler = this.#handlers.get(frame.name);
    if (!handler || !conn.welcomed) return;
    const params = frame.failed ? undefined : frame.value;
    const ctx = { signal: conn.ended.signal, client: conn, method: frame.name };
    try {
      const result = handler(params, ctx) as Promise<unknown> | undefined;
      if (result && typeof result.then === 'function') result.then(undefined, (error) => this.emit('error', error));
    } catch (error) {
      this.emit('error', error);
    }
  }

  #onCall(conn: Connection, frame: TakenFrame): void {
    const { id, name: method } = frame;
    const fail = (payload: ErrorPayload) => conn.send(encodeFrame(RES.error, id, method, this.#encodeError(payload)));
    if (!conn.welcomed) {
      this.#drop(conn, 'protocol');
      return;
    }
    if (this.#header.state !== 'listening') {
      fail({ code: 'ERR_SHMKIT_SERVICE_DRAINING', message: `service '${this.name}' is draining: no new calls` });
      return;
    }
    const handler = this.#handlers.get(method);
    if (!handler) {
      fail({ code: 'ERR_SHMKIT_NO_SUCH_METHOD', message: `service '${this.name}' has no method '${method}'` });
      return;
    }
    if (
      liveCalls(conn, this.#header.limits.maxInFlightPerClient) >= this.#header.limits.maxInFlightPerClient ||
      conn.inFlight.has(id)
    ) {
      fail({
        code: 'ERR_SHMKIT_OVERLOADED',
        message: `service '${this.name}': more than ${this.#header.limits.maxInFlightPerClient} calls in flight from this client`,
      });
      return;
    }
    if (frame.failed) {
      fail(errorPayload(frame.failure));
      return;
    }
    const params = frame.value;
    const call = new InFlightCall(id, method, conn, performance.now());
    this.#started();
    if (frame.type === REQ.stream) {
      this.#track(call);
      void this.#runStream(call, handler, params);
      return;
    }
    let result: unknown;
    try {
      result = handler(params, call.ctx);
    } catch (error) {
      this.#reply(call, error, true);
      return;
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      this.#track(call);
      (result as Promise<unknown>).then(
        (value) => this.#reply(call, value, false),
        (error) => this.#reply(call, error, true),
      );
    } else {
      this.#reply(call, result, false);
    }
  }

  /**
   * Enters a call that outlives its handler's return (async, or a stream)
   * in its connection's calls in flight, where a cancel or the connection's
   * end finds it. A sync handler's call is answered before anything else
   * can run, so it never enters: a Map insert and delete per call showed
   * as the largest single cost of #done in the pipelined bench's profile.
   */
  #track(call: InFlightCall): void {
    if (call.client.ended.signal.aborted) {
      // Its handler dropped the connection (a broadcast past the queue's limit): the call ends
      // with it, counted as cancelled when it answers.
      call.abort();
      return;
    }
    call.tracked = true;
    call.client.inFlight.set(call.id, call);
  }

  /** Call `call` ended: it leaves its connection's calls in flight, and is counted (a call of a dropped connection was counted by #drop already). */
  #done(call: InFlightCall, outcome: 'completed' | 'failed' | 'cancelled'): void {
    if (call.tracked) {
      if (call.client.inFlight.get(call.id) !== call) return; // counted when its connection ended
      call.client.inFlight.delete(call.id);
    }
    this.#finished(outcome);
    if (outcome !== 'cancelled') this.#methods.record(call.method, performance.now() - call.arrived);
  }

  #reply(call: InFlightCall, value: unknown, failed: boolean): void {
    if (call.aborted || call.client.ended.signal.aborted) {
      this.#done(call, 'cancelled'); // the caller gave up, or its connection ended: nobody waits for it
      return;
    }
    const { id, method } = call;
    let frame: Uint8Array;
    if (failed) {
      frame = encodeFrame(RES.error, id, method, this.#encodeError(errorPayload(value)));
    } else {
      try {
        frame = encodeFrame(RES.result, id, method, this.#encode(value));
      } catch (error) {
        frame = encodeFrame(RES.error, id, method, this.#encodeError(errorPayload(error)));
        failed = true;
      }
    }
    this.#header.count('bytesOut', frame.length);
    call.client.send(frame);
    this.#done(call, failed ? 'failed' : 'completed');
  }

  async #runStream(call: InFlightCall, handler: Handler, params: unknown): Promise<void> {
    const { id, method, client: conn } = call;
    const signal = call.signal; // a stream waits on it: made at once
    let iterator: AsyncIterator<unknown> | Iterator<unknown> | undefined;
    const pace = { credit: STREAM_WINDOW, wake: undefined as (() => void) | undefined };
    conn.streams.set(id, pace);
    const onAbort = () => pace.wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const source = (await handler(params, call.ctx)) as AsyncIterable<unknown> | Iterable<unknown>;
      const make =
        (source as AsyncIterable<unknown>)?.[Symbol.asyncIterator] ?? (source as Iterable<unknown>)?.[Symbol.iterator];
      if (typeof make !== 'function') throw new TypeError(`the handler of stream '${method}' returned no iterable`);
      iterator = make.call(source);
      for (let chunks = 1; ; chunks++) {
        // A generator that never awaits would keep this loop in microtasks and
        // starve the serve loop, which reads the caller's cancel: yield to it.
        if ((chunks & 31) === 0) await new Promise((resolve) => setImmediate(resolve));
        // Flow control: no credit, no chunk (the caller's loop is behind).
        while (pace.credit <= 0 && !signal.aborted) {
          await new Promise<void>((resolve) => {
            pace.wake = resolve;
          });
          pace.wake = undefined;
        }
        if (signal.aborted) break;
        const step = await iterator.next();
        if (step.done || signal.aborted) break;
        const frame = encodeFrame(RES.chunk, id, method, this.#encode(step.value));
        this.#header.count('bytesOut', frame.length);
        this.#header.count('streamChunks');
        pace.credit--;
        conn.send(frame);
        await conn.drained(); // backpressure: the next chunk waits for room
      }
      if (signal.aborted) {
        await iterator.return?.();
        return this.#done(call, 'cancelled');
      }
      conn.send(encodeFrame(RES.end, id, method, new Uint8Array(0)));
      this.#done(call, 'completed');
    } catch (error) {
      if (signal.aborted) return this.#done(call, 'cancelled');
      conn.send(encodeFrame(RES.error, id, method, this.#encodeError(errorPayload(error))));
      this.#done(call, 'failed');
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (conn.streams.get(id) === pace) conn.streams.delete(id);
    }
  }

  #started(): void {
    this.#header.count('callsStarted');
    this.#header.setCounter('inFlight', ++this.#inFlightCount);
    if (this.#inFlightCount > this.#peakInFlight) {
      this.#peakInFlight = this.#inFlightCount;
      this.#header.setCounter('peakInFlight', this.#peakInFlight);
    }
  }

  #finished(outcome: 'completed' | 'failed' | 'cancelled'): void {
    this.#header.count(
      outcome === 'completed' ? 'callsCompleted' : outcome === 'failed' ? 'callsFailed' : 'callsCancelled',
    );
    this.#header.setCounter('inFlight', --this.#inFlightCount);
    if (this.#inFlightCount === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /**
   * Ends a connection: frees its slot, tells the client why (a CLOSED frame
   * naming the reason, when its ring has room; otherwise the client finds its
   * slot freed once it has read what is there), aborts its handlers, removes
   * its rings.
   */
  #drop(conn: Connection, reason: DisconnectReason, emit = true): void {
    if (this.#connections.get(conn.slot) !== conn) return;
    this.#connections.delete(conn.slot);
    // Free the slot before the last frame: a client that finds its ring empty
    // checks its slot before it parks, so it cannot sleep through its end.
    if (this.#header.slotGeneration(conn.slot) === conn.generation) this.#header.freeSlot(conn.slot, reason);
    if (reason !== 'died') conn.tell(encodeFrame(RES.closed, 0, reason, new Uint8Array(0)));
    const aborted = conn.inFlight.size;
    conn.end();
    if (aborted > 0) {
      this.#header.count('callsCancelled', aborted);
      this.#inFlightCount -= aborted;
      this.#header.setCounter('inFlight', this.#inFlightCount);
      if (this.#inFlightCount === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
    this.#header.count('disconnections');
    if (reason === 'slow-consumer') this.#header.count('evictions');
    if (emit && conn.welcomed) this.emit('disconnect', conn, reason);
  }

  #encode(value: unknown): Uint8Array {
    return this.#codec.encode(value, this.name, this.#reader.owner);
  }

  /** An ERROR payload, encoded (errors.ts: `data` the codec cannot carry is left out). */
  #encodeError(payload: ErrorPayload): Uint8Array {
    return encodeErrorPayload(payload, (value) => this.#encode(value));
  }
}

/**
 * The calls of `conn` in flight that its client still waits for, counted
 * only once there are `max` in all: a call the client cancelled freed its
 * place on the client's side at once, while its handler may still be
 * finishing here.
 */
function liveCalls(conn: Connection, max: number): number {
  if (conn.inFlight.size < max) return conn.inFlight.size;
  let live = 0;
  for (const call of conn.inFlight.values()) if (!call.aborted) live++;
  return live;
}

/** A service name: a POSIX shm name leaving room for its rings' suffixes ('.<slot>.<generation>.req'). */
export function serviceName(value: unknown): string {
  return posixName(value, 'name', NAME_MAX - 24);
}

function requireString(value: unknown, name: string): void {
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
}

function capacity(value: unknown, name: string): number {
  if (value === undefined) return DEFAULT_CAPACITY;
  const bytes = validateInteger(value, name, 64, 2 ** 30);
  if ((bytes & (bytes - 1)) !== 0)
    throw new RangeError(`The value of "${name}" must be a power of two. Received ${bytes}`);
  return bytes;
}

/**
 * The name exists: if it is the header of a service whose server is dead,
 * removes it and its connections' rings; otherwise throws EEXIST.
 */
function takeOver(name: string): void {
  let header: ServiceHeader;
  try {
    header = ServiceHeader.open(name);
  } catch (error) {
    throw codedError('EEXIST', `'${name}' exists and is not a usable service header (${(error as Error).message})`);
  }
  try {
    const { pid, startTicks } = header.server;
    const life = processLife(pid);
    if (life.alive && (life.startTicks === undefined || startTicks === 0 || life.startTicks === startTicks)) {
      throw serviceError('EEXIST', name, `already served by the live process ${pid}`);
    }
    for (let slot = 0; slot < header.limits.maxClients; slot++) {
      const at = header.slot(slot);
      if (at.state === SLOT_STATE.free && at.generation === 0) continue;
      const names = ringNames(name, slot, at.generation);
      for (const ring of [names.req, names.res]) {
        try {
          RingBuffer.unlink(ring);
        } catch {
          // never created, or removed
        }
      }
    }
  } finally {
    header.close();
  }
  ServiceHeader.unlink(name);
}

/** The info of service `name`, read from /dev/shm without mapping it; undefined if it is no service. */
function readInfo(name: string): (ServiceInfo & { counters: Record<CounterName, number> }) | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/dev/shm${name}`, 'r');
    const head = Buffer.alloc(headerBytes(0));
    if (fs.readSync(fd, head, 0, head.length, 0) < head.length || head.readUInt32LE(0) !== MAGIC) return undefined;
    const maxClients = head.readInt32LE(32);
    if (maxClients < 1 || maxClients > MAX_CLIENTS) return undefined;
    const all = Buffer.alloc(headerBytes(maxClients));
    if (fs.readSync(fd, all, 0, all.length, 0) < all.length) return undefined;
    let clients = 0;
    for (let slot = 0; slot < maxClients; slot++) {
      if (all.readInt32LE(headerBytes(slot)) === SLOT_STATE.connected) clients++;
    }
    const pid = all.readInt32LE(16);
    const startTicks = all.readDoubleLE(24);
    const life = processLife(pid);
    const counters = {} as Record<CounterName, number>;
    for (const [key, at] of Object.entries(COUNTER)) counters[key as CounterName] = all.readDoubleLE(at * 8);
    return {
      counters,
      name,
      pid,
      alive: life.alive && (life.startTicks === undefined || startTicks === 0 || life.startTicks === startTicks),
      state: STATE_NAMES[all.readInt32LE(8)] ?? 'closed',
      clients,
      maxClients,
      createdAt: new Date(all.readDoubleLE(48)),
    };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
