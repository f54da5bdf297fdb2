/**
 * Client: calls a Service in another process (docs/services.md). Connecting
 * claims a slot in the service's header and creates the connection's two
 * rings; calls go out as frames on the request ring — every call made in
 * one tick in one batch, with at most one doorbell wake — and answers come
 * back on the response ring, read by one loop that parks on it when idle.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { codedError } from '../core/errors.js';
import { abortError } from '../core/pending.js';
import { processLife, processStartTicks } from '../core/processes.js';
import {
  typeError,
  validateAbortSignal,
  validateBoolean,
  validateOptions,
  validateTimeoutMs,
} from '../core/validate.js';
import { ProcessWatch } from '../primitives/process-watch.js';
import { type CodecSpec, type ResolvedCodec, resolveCodec } from '../structures/codecs.js';
import { RingBuffer } from '../structures/ring/ring-buffer.js';
import { callError, type ErrorPayload, serviceError } from './errors.js';
import {
  creditPayload,
  decodeFrame,
  encodeFrame,
  type Frame,
  REQ,
  RES,
  ringNames,
  SLOT_STATE,
  STREAM_WINDOW,
  VERSION,
} from './format.js';
import { jsonBytes, readJson } from './handshake.js';
import { ServiceHeader, type ServiceLimits } from './header.js';
import { PendingCalls } from './pending-calls.js';
import { serviceName } from './service.js';
import { type FrameReader, ownFrame, type TakenFrame, takeFrame } from './take-frame.js';

/**
 * A service's methods as its clients see them: an interface (or type) whose
 * members are the handlers' signatures, e.g.
 * `interface Calc { add(p: { a: number; b: number }): number; tail(q: string): AsyncIterable<string> }`,
 * passed as `Client.connect<Calc>(...)`: call() then takes the method's
 * params and resolves with its (awaited) result, stream() yields its chunks.
 * Without one, any method name goes and values are `unknown`.
 */
// biome-ignore lint/suspicious/noExplicitAny: params of an untyped service are whatever the caller sends
export type ServiceMethods = Record<string, (params?: any) => unknown>;

/** The method names of `M`. */
export type MethodName<M> = keyof M & string;
/** The params of a method: its first parameter. */
// biome-ignore lint/suspicious/noExplicitAny: matching any function
export type ParamsOf<F> = F extends (params: infer P, ...rest: any[]) => unknown ? P : unknown;
/** What call() resolves with: the method's awaited result. */
// biome-ignore lint/suspicious/noExplicitAny: matching any function
export type ResultOf<F> = F extends (...args: any[]) => infer R ? Awaited<R> : unknown;
/** What stream() yields: the chunks of the (async) iterable the method returns. */
// biome-ignore lint/suspicious/noExplicitAny: matching any function
export type ChunkOf<F> = F extends (...args: any[]) => infer R
  ? Awaited<R> extends AsyncIterable<infer T>
    ? T
    : Awaited<R> extends Iterable<infer T>
      ? T
      : unknown
  : unknown;

/** Options of {@link Client.connect}. */
export interface ClientConnectOptions {
  /** The service's codec (default 'msgpack'); another one fails with `ERR_SHMKIT_CODEC_MISMATCH`. */
  codec?: CodecSpec<unknown>;
  /** How long connecting may take in all, in ms (default: forever when waiting for the service, else 10 000). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Wait for the service to appear and listen (inotify on /dev/shm, then its state word) instead of failing with `ENOENT`. */
  waitForService?: boolean;
  /** With maxClients connected, wait (until timeoutMs) for a slot to be freed instead of failing with `ERR_SHMKIT_SERVICE_FULL`. */
  waitForSlot?: boolean;
}

/** Options of {@link Client.call} and {@link Client.stream}. */
export interface CallOptions {
  /** How long the call may take, in ms (default: no limit); then it rejects with `ETIMEDOUT` and the handler is cancelled. */
  timeoutMs?: number;
  /** Cancels the call: it rejects with an AbortError and the handler's `ctx.signal` aborts. */
  signal?: AbortSignal;
  /** Past maxInFlightPerClient: 'wait' for a call to end (default) or 'reject' with `ERR_SHMKIT_OVERLOADED`. */
  whenBusy?: 'wait' | 'reject';
}

/**
 * Why a client's connection ended: 'closed' (either side closed it), 'died'
 * (the server's process ended), 'slow-consumer' (the service evicted this
 * client: it left too many responses unread) or 'protocol' (the service
 * dropped it for frames it could not read).
 */
export type ClientDisconnectReason = 'closed' | 'died' | 'slow-consumer' | 'protocol';

interface PendingCall {
  method: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** For a stream: a chunk arrived. */
  chunk?(value: unknown): void;
  /** For a stream: it ended. */
  end?(): void;
}

const NO_BYTES = new Uint8Array(0);

/**
 * A connection to a {@link Service}.
 * ```ts
 * const client = await Client.connect('/calc', { waitForService: true });
 * const sum = await client.call('add', { a: 1, b: 2 }, { timeoutMs: 1000 });
 * for await (const line of client.stream('tail', { from: 0 })) console.log(line);
 * await client.close();
 * ```
 * A connected client keeps the process alive, like a socket, until close()
 * (or unref()). Events: 'notification' (event, value) for the service's
 * broadcasts, 'goaway' (the service drains: finish up), 'disconnect' (reason).
 * Errors of calls: {@link RemoteError} (the handler threw), `ETIMEDOUT`,
 * AbortError, `ERR_SHMKIT_NO_SUCH_METHOD`, `ERR_SHMKIT_OVERLOADED`,
 * `ERR_SHMKIT_SERVICE_DRAINING`, `ERR_SHMKIT_SERVICE_CLOSED`,
 * `ERR_SHMKIT_PEER_DIED` (the server's process ended), `ERR_SHMKIT_CLOSED`
 * (this client was closed).
 */
export class Client<M extends object = ServiceMethods> extends EventEmitter {
  readonly service: string;
  readonly #header: ServiceHeader;
  readonly #codec: ResolvedCodec<unknown>;
  readonly #req: RingBuffer;
  readonly #res: RingBuffer;
  readonly #limits: ServiceLimits;
  readonly #pending = new PendingCalls<PendingCall>();
  readonly #watch: ProcessWatch;
  readonly #slot: number;
  readonly #generation: number;
  readonly #ended = new AbortController();
  #nextId = 1;
  #outbox: Uint8Array[] = [];
  #flushing: Promise<void> | undefined;
  #slotWaiters: Array<() => void> = [];
  /** In-flight places handed to woken waiters and not taken by their call yet. */
  #reserved = 0;
  #draining = false;
  #reader: AbortController | undefined;
  /** How the read loop takes its frames: results, errors, chunks and events carry the codec's values. */
  readonly #frames: FrameReader;
  #ref = true;
  /** Responses that came after their call had given up (timed out, aborted). */
  #late = 0;

  private constructor(
    service: string,
    header: ServiceHeader,
    codec: ResolvedCodec<unknown>,
    rings: { req: RingBuffer; res: RingBuffer },
    limits: ServiceLimits,
    watch: ProcessWatch,
    claim: { slot: number; generation: number },
  ) {
    super();
    this.#slot = claim.slot;
    this.#generation = claim.generation;
    this.service = service;
    this.#header = header;
    this.#codec = codec;
    this.#frames = {
      valueTypes: (1 << RES.result) | (1 << RES.error) | (1 << RES.chunk) | (1 << RES.event),
      codec,
      name: service,
      owner: `Client of '${service}'`,
      undefinedWhenEmpty: (1 << RES.result) | (1 << RES.error) | (1 << RES.chunk),
    };
    this.#req = rings.req;
    this.#res = rings.res;
    this.#limits = limits;
    this.#watch = watch;
  }

  /**
   * Connects to service `name`.
   * @throws `ENOENT` (no such service; see `waitForService`), `ERR_SHMKIT_BAD_SERVICE`,
   * `ERR_SHMKIT_SERVICE_FULL` (maxClients connected), `ERR_SHMKIT_SERVICE_DRAINING`/`_CLOSED`,
   * `ERR_SHMKIT_PEER_DIED` (its server is dead), `ERR_SHMKIT_CODEC_MISMATCH`,
   * `ERR_SHMKIT_PROTOCOL_MISMATCH`, `ETIMEDOUT`, AbortError.
   */
  static async connect<M extends object = ServiceMethods>(
    name: string,
    options?: ClientConnectOptions,
  ): Promise<Client<M>> {
    const service = serviceName(name);
    const opts = validateOptions(options);
    const codec = resolveCodec<unknown>(opts.codec ?? 'msgpack');
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const wait =
      opts.waitForService === undefined ? false : validateBoolean(opts.waitForService, 'options.waitForService');
    const waitForSlot =
      opts.waitForSlot === undefined ? false : validateBoolean(opts.waitForSlot, 'options.waitForSlot');
    const timeoutMs = validateTimeoutMs(opts.timeoutMs ?? (wait ? undefined : 10_000), 'options.timeoutMs');
    const deadline = timeoutMs >= 0 ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY;
    const left = () => Math.max(0, deadline - performance.now());
    const header = await openHeader(service, wait, left, signal);
    try {
      if (header.state === 'starting') await header.whileState('starting', { timeoutMs: finite(left()), signal });
      if (header.state === 'draining')
        throw serviceError('ERR_SHMKIT_SERVICE_DRAINING', service, 'it is draining: no new connections');
      if (header.state === 'closed') throw serviceError('ERR_SHMKIT_SERVICE_CLOSED', service, 'it is closed');
      if (header.codec !== codec.fingerprint) {
        throw serviceError(
          'ERR_SHMKIT_CODEC_MISMATCH',
          service,
          `this client's ${codec.description} is not the service's codec`,
        );
      }
      const server = header.server;
      const watch = ProcessWatch.open(server.pid, { startTicks: server.startTicks || undefined });
      if (watch.exited) {
        watch.close();
        throw serviceError('ERR_SHMKIT_PEER_DIED', service, `its server (pid ${server.pid}) is dead`);
      }
      try {
        return (await Client.#handshake(service, header, codec, watch, left, signal, waitForSlot)) as Client<M>;
      } catch (error) {
        watch.close();
        throw error;
      }
    } catch (error) {
      header.close();
      throw error;
    }
  }

  static async #handshake(
    service: string,
    header: ServiceHeader,
    codec: ResolvedCodec<unknown>,
    watch: ProcessWatch,
    left: () => number,
    signal: AbortSignal | undefined,
    waitForSlot: boolean,
  ): Promise<Client> {
    const self = processStartTicks('self') ?? 0;
    const tryClaim = () =>
      header.claimSlot(process.pid, self) ??
      (reclaimAbandoned(service, header) ? header.claimSlot(process.pid, self) : undefined);
    let claim = tryClaim();
    while (!claim && waitForSlot) {
      const seen = header.slotsFreed;
      claim = tryClaim();
      if (claim) break;
      const result = await header.waitForFreedSlot(seen, { timeoutMs: finite(left()), signal });
      if (result === 'timed-out') {
        throw serviceError(
          'ETIMEDOUT',
          service,
          `no connection slot was freed in time (maxClients ${header.limits.maxClients})`,
        );
      }
      if (header.state !== 'listening')
        throw serviceError('ERR_SHMKIT_SERVICE_DRAINING', service, 'it is closing: no new connections');
      claim = tryClaim();
    }
    if (!claim) {
      throw serviceError(
        'ERR_SHMKIT_SERVICE_FULL',
        service,
        `all ${header.limits.maxClients} connections are taken (maxClients)`,
      );
    }
    const names = ringNames(service, claim.slot, claim.generation);
    const mode = header.shm.stat().mode & 0o777;
    let req: RingBuffer | undefined;
    let res: RingBuffer | undefined;
    let limits: ServiceLimits;
    try {
      req = RingBuffer.create(names.req, { capacityBytes: header.limits.requestCapacityBytes, mode });
      res = RingBuffer.create(names.res, { capacityBytes: header.limits.responseCapacityBytes, mode });
      req.tryPush(encodeFrame(REQ.hello, 0, '', jsonBytes({ version: VERSION, codec: codec.fingerprint })));
      header.setSlotState(claim.slot, SLOT_STATE.ready);
      header.wakeServer();
      const answer = decodeFrame(await res.pop({ timeoutMs: finite(left()), signal }));
      const payload = answer ? readJson(answer.payload) : undefined;
      if (answer?.type === RES.refuse) {
        const { code, message } = (payload ?? {}) as { code?: string; message?: string };
        throw serviceError(
          code ?? 'ERR_SHMKIT_PROTOCOL_MISMATCH',
          service,
          message ?? 'the service refused the connection',
        );
      }
      if (answer?.type !== RES.welcome || !payload) {
        throw serviceError(
          'ERR_SHMKIT_PROTOCOL_MISMATCH',
          service,
          'the service answered the handshake with something else',
        );
      }
      limits = payload as ServiceLimits;
    } catch (error) {
      for (const ring of [req, res]) ring?.close();
      for (const ring of [names.req, names.res]) unlinkQuietly(ring);
      if (header.slot(claim.slot).generation === claim.generation) header.freeSlot(claim.slot);
      if ((error as { code?: string }).code === 'ETIMEDOUT') {
        throw serviceError('ETIMEDOUT', service, 'no answer to the connection handshake in time');
      }
      throw error;
    }
    // Outside the try: from here on the client owns the rings, the slot and the header.
    const client = new Client(service, header, codec, { req, res }, limits, watch, claim);
    client.#start();
    return client;
  }

  /** Calls in flight. */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** Counters of this client: responses that came after their call had given up. */
  stats(): { lateResponses: number; pendingCalls: number } {
    return { lateResponses: this.#late, pendingCalls: this.#pending.size };
  }

  /**
   * Calls `method` with `params`; resolves with the handler's result.
   * @throws (rejects) see the class.
   */
  call<K extends MethodName<M>>(method: K, params?: ParamsOf<M[K]>, options?: CallOptions): Promise<ResultOf<M[K]>> {
    // Not async: a call with room in flight goes out in this tick without a
    // microtask hop, and its errors still come as rejections (the catch).
    try {
      const { timeoutMs, signal, whenBusy } = callOptions(options);
      requireMethod(method);
      if (signal?.aborted) throw abortError(signal);
      if (this.#roomNow(whenBusy)) return this.#issue(this.#takeId(), method, params, timeoutMs, signal);
      return this.#admit(signal).then(() => {
        this.#checkAfterWait(signal);
        let issued: Promise<ResultOf<M[K]>>;
        try {
          issued = this.#issue(this.#takeId(), method, params, timeoutMs, signal);
        } catch (error) {
          this.#dropReserved();
          throw error;
        }
        this.#reserved--; // the place is the pending call's now
        return issued;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends call `id` and registers it; its timeout and signal only when it has them (most calls have neither). */
  #issue<R>(
    id: number,
    method: string,
    params: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const frame = encodeFrame(REQ.call, id, method, this.#encode(params));
    return new Promise<R>((resolve, reject) => {
      if (timeoutMs < 0 && signal === undefined) {
        this.#pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject });
      } else {
        const stop = this.#limit(id, method, timeoutMs, signal, reject);
        this.#pending.set(id, {
          method,
          resolve: (value) => {
            stop();
            resolve(value as R);
          },
          reject: (error) => {
            stop();
            reject(error);
          },
        });
      }
      this.#send(frame);
    });
  }

  /**
   * Calls a streaming method: yields each chunk the handler yields, in
   * order. Leaving the loop early (break, return, a throw) cancels the
   * handler on the server.
   */
  async *stream<K extends MethodName<M>>(
    method: K,
    params?: ParamsOf<M[K]>,
    options?: CallOptions,
  ): AsyncGenerator<ChunkOf<M[K]>, void, undefined> {
    type T = ChunkOf<M[K]>;
    const { id, timeoutMs, signal, reserved } = await this.#begin(method, options);
    let frame: Uint8Array;
    try {
      frame = encodeFrame(REQ.stream, id, method, this.#encode(params)); // before anything is registered
    } catch (error) {
      if (reserved) this.#dropReserved();
      throw error;
    }
    const chunks: T[] = [];
    let finished = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const poke = () => {
      wake?.();
      wake = undefined;
    };
    const stop = this.#limit(id, method, timeoutMs, signal, (error) => {
      failure = error;
      poke();
    });
    this.#pending.set(id, {
      method,
      resolve: () => {},
      reject: (error) => {
        failure = error;
        poke();
      },
      chunk: (value) => {
        chunks.push(value as T);
        poke();
      },
      end: () => {
        finished = true;
        poke();
      },
    });
    if (reserved) this.#reserved--; // the place is the stream's now
    this.#send(frame);
    let taken = 0;
    try {
      for (;;) {
        while (chunks.length > 0) {
          yield chunks.shift() as T;
          // The loop took it: return credit by halves of the window.
          if (++taken >= STREAM_WINDOW / 2 && this.#pending.has(id)) {
            this.#send(encodeFrame(REQ.credit, id, '', creditPayload(taken)));
            taken = 0;
          }
        }
        if (failure) throw failure;
        if (finished) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      stop();
      if (this.#pending.delete(id)) {
        if (!finished && !failure) this.#cancel(id); // left early: cancel the handler
        this.#released();
      }
    }
  }

  /** Sends a notification: `method`'s handler runs on the server, nothing comes back. */
  notify<K extends MethodName<M>>(method: K, value?: ParamsOf<M[K]>): void {
    requireMethod(method);
    this.#live();
    this.#send(encodeFrame(REQ.notify, 0, method, this.#encode(value)));
  }

  /** Lets the process exit while connected (like socket.unref()). */
  unref(): this {
    this.#setRef(false);
    return this;
  }

  /** Keeps the process alive while connected (the default). */
  ref(): this {
    this.#setRef(true);
    return this;
  }

  /**
   * Closes the connection: says goodbye to the server (which frees the slot),
   * removes the rings, and rejects calls still pending with `ERR_SHMKIT_CLOSED`.
   * Safe twice.
   */
  async close(): Promise<void> {
    if (this.#ended.signal.aborted) return;
    // Calls not sent yet are rejected below: only the goodbye needs to go out.
    this.#outbox = [];
    const bye = encodeFrame(REQ.bye, 0, '', NO_BYTES);
    try {
      if (!this.#flushing) {
        if (this.#req.tryPush(bye)) this.#header.ringDoorbell();
      } else {
        // A push waits for room in the request ring: the goodbye goes after it
        // (until the server reads, or dies and ends this client).
        this.#outbox.push(bye);
        await this.#flush();
      }
    } catch {
      // the server is gone, or the ring is broken: nothing to tell
    }
    this.#end(
      codedError('ERR_SHMKIT_CLOSED', `Client of '${this.service}' was closed while the call was pending`),
      'closed',
      false,
    );
  }

  // ---------------------------------------------------------------- internals

  /** Starts watching the server and reading; never throws (the read loop may end the client at once). */
  #start(): void {
    // The watch first: the read loop may end the client (and close the watch) before its first await.
    this.#watch.exit({ signal: this.#ended.signal }).then(
      () => this.#end(serviceError('ERR_SHMKIT_PEER_DIED', this.service, 'its server process died'), 'died'),
      () => {},
    );
    void this.#read();
  }

  /** The response loop: takes frames until the connection ends. */
  async #read(): Promise<void> {
    while (!this.#ended.signal.aborted) {
      let frame: TakenFrame | null | undefined;
      try {
        frame = takeFrame(this.#res, this.#frames);
      } catch (error) {
        // The response ring is corrupt (its other side wrote garbage): this connection is over.
        this.#end(
          serviceError(
            'ERR_SHMKIT_PROTOCOL_MISMATCH',
            this.service,
            `its response ring failed: ${(error as Error).message}`,
          ),
          'protocol',
        );
        return;
      }
      if (frame === undefined) {
        // Nothing to read: before parking, make sure the service still holds
        // this connection (it frees the slot before its last frame, which may
        // not have fit in the ring).
        if (this.#dropped()) return;
        if (!this.#reader || this.#reader.signal.aborted) this.#reader = new AbortController();
        // Let the callers' continuations run first: an answer just handed out
        // is usually followed by the next call, and the ring's wait spins
        // synchronously before it parks — spinning before that call went out
        // could only delay it.
        await new Promise<void>((resolve) => setImmediate(resolve));
        try {
          frame = ownFrame(await this.#res.pop({ signal: this.#reader.signal, ref: this.#ref }), this.#frames);
        } catch (error) {
          if (this.#ended.signal.aborted) return;
          if ((error as Error).name === 'AbortError') continue; // ref() / unref(): wait again
          this.#end(
            serviceError('ERR_SHMKIT_PEER_DIED', this.service, `its response ring failed: ${(error as Error).message}`),
            'died',
          );
          return;
        }
      }
      if (frame === null) {
        this.#end(
          serviceError('ERR_SHMKIT_PROTOCOL_MISMATCH', this.service, 'a response that is not a frame'),
          'protocol',
        );
        return;
      }
      this.#onFrame(frame);
    }
  }

  #onFrame(frame: TakenFrame): void {
    switch (frame.type) {
      case RES.result:
      case RES.error:
      case RES.chunk:
      case RES.end:
        this.#onAnswer(frame);
        break;
      case RES.event:
        if (frame.failed) break; // an event this codec cannot read: nobody to reject, skip it
        this.emit('notification', frame.name, frame.value);
        break;
      case RES.goaway:
        this.#draining = true;
        this.emit('goaway');
        break;
      case RES.closed:
        this.#onClosed(frame.name);
        break;
      default:
        break; // a newer server's frame: ignore
    }
  }

  /** The service ended this connection, for `reason` (a DisconnectReason, or '' from an older server). */
  #onClosed(reason: string): void {
    if (reason === 'slow-consumer' || reason === 'protocol') {
      const why =
        reason === 'slow-consumer'
          ? 'it evicted this client (too many unread responses)'
          : 'it dropped this client (a frame it could not read)';
      this.#end(serviceError('ERR_SHMKIT_DISCONNECTED', this.service, why), reason);
      return;
    }
    this.#end(serviceError('ERR_SHMKIT_SERVICE_CLOSED', this.service, 'it closed'), 'closed');
  }

  /** True (and the client ended) when the service no longer holds this connection's slot. */
  #dropped(): boolean {
    const header = this.#header;
    if (header.slotGeneration(this.#slot) === this.#generation && header.slotState(this.#slot) === SLOT_STATE.connected)
      return false;
    // The slot says why, unless another client has claimed it since.
    const reason = header.slotGeneration(this.#slot) === this.#generation ? header.slotReason(this.#slot) : '';
    const state = header.state;
    if (reason === 'slow-consumer' || reason === 'protocol') this.#onClosed(reason);
    else if (state === 'closed' || state === 'draining') this.#onClosed('closed');
    else this.#end(serviceError('ERR_SHMKIT_DISCONNECTED', this.service, 'it ended this connection'), 'closed');
    return true;
  }

  #onAnswer(frame: TakenFrame): void {
    const call = this.#pending.get(frame.id);
    if (!call) {
      this.#late++;
      return;
    }
    if (frame.failed) {
      this.#settle(frame.id, call);
      call.reject(frame.failure as Error);
      return;
    }
    const value = frame.value;
    if (frame.type === RES.chunk) {
      call.chunk?.(value);
      return;
    }
    this.#settle(frame.id, call);
    if (frame.type === RES.end) call.end?.();
    else if (frame.type === RES.result) call.resolve(value);
    else call.reject(callError(value as ErrorPayload, call.method));
  }

  /** A call is answered: it leaves the pending map (a stream's entry is removed by its generator's finally). */
  #settle(id: number, call: PendingCall): void {
    if (call.chunk || this.#pending.get(id) !== call) return;
    this.#pending.delete(id);
    this.#released();
  }

  /** Arms the timeout and the AbortSignal of call `id`; returns their disarm. */
  #limit(
    id: number,
    method: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    fail: (error: Error) => void,
  ): () => void {
    const giveUp = (error: Error) => {
      const call = this.#pending.get(id);
      if (!call) return;
      if (!call.chunk) {
        this.#pending.delete(id);
        this.#released();
      }
      this.#cancel(id, (error as { code?: string }).code === 'ETIMEDOUT');
      fail(error);
    };
    const timer =
      timeoutMs >= 0
        ? setTimeout(
            () => giveUp(serviceError('ETIMEDOUT', this.service, `'${method}' took longer than ${timeoutMs} ms`)),
            timeoutMs,
          )
        : undefined;
    const onAbort = () => giveUp(abortError(signal as AbortSignal));
    signal?.addEventListener('abort', onAbort, { once: true });
    // Aborted before the listener was there (between #begin's last look and
    // now): give up as soon as the call is registered, which the caller does
    // right after this returns.
    if (signal?.aborted) queueMicrotask(onAbort);
    return () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  }

  /**
   * What call() and stream() do first: check the arguments, wait for an
   * in-flight place, take an id. An abort while it waits rejects here and
   * nothing is sent; one after it returns is #limit's.
   */
  async #begin(
    method: unknown,
    options: CallOptions | undefined,
  ): Promise<{ id: number; timeoutMs: number; signal: AbortSignal | undefined; reserved: boolean }> {
    const { timeoutMs, signal, whenBusy } = callOptions(options);
    requireMethod(method);
    if (signal?.aborted) throw abortError(signal);
    if (this.#roomNow(whenBusy)) return { id: this.#takeId(), timeoutMs, signal, reserved: false };
    await this.#admit(signal);
    this.#checkAfterWait(signal);
    // The place stays reserved until the stream is registered (an await away).
    return { id: this.#takeId(), timeoutMs, signal, reserved: true };
  }

  /**
   * True when a call may go out now; false when it must wait for an
   * in-flight place (none free, or callers already wait for one: they go
   * first). Throws when this client is closed, the service drains, or it is
   * busy and `whenBusy` is 'reject'.
   */
  #roomNow(whenBusy: 'wait' | 'reject'): boolean {
    this.#live();
    if (this.#draining) throw serviceError('ERR_SHMKIT_SERVICE_DRAINING', this.service, 'it is draining: no new calls');
    if (this.#pending.size + this.#reserved < this.#limits.maxInFlightPerClient && this.#slotWaiters.length === 0)
      return true;
    if (whenBusy === 'reject') {
      throw serviceError(
        'ERR_SHMKIT_OVERLOADED',
        this.service,
        `${this.#limits.maxInFlightPerClient} calls in flight (maxInFlightPerClient)`,
      );
    }
    return false;
  }

  /**
   * Waits, in line, for an in-flight place: #released() reserves one for the
   * first waiter before it wakes it, so no call made meanwhile can take it
   * (the server would refuse the extra call with ERR_SHMKIT_OVERLOADED). An
   * abort takes the caller out of the line.
   */
  #admit(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const at = this.#slotWaiters.indexOf(waiter);
        if (at >= 0) this.#slotWaiters.splice(at, 1);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#slotWaiters.push(waiter);
    });
  }

  /** After the wait: throws (passing the reserved place on) when the call may not go now after all. */
  #checkAfterWait(signal: AbortSignal | undefined): void {
    try {
      this.#live();
      if (this.#draining)
        throw serviceError('ERR_SHMKIT_SERVICE_DRAINING', this.service, 'it is draining: no new calls');
      if (signal?.aborted) throw abortError(signal);
    } catch (error) {
      this.#dropReserved();
      throw error;
    }
  }

  /** A reserved place its caller will not use: the next waiter gets it. */
  #dropReserved(): void {
    this.#reserved = Math.max(0, this.#reserved - 1);
    this.#released();
  }

  /** A call left: the places now free go to the waiting callers, first come first served. */
  #released(): void {
    while (this.#slotWaiters.length > 0 && this.#pending.size + this.#reserved < this.#limits.maxInFlightPerClient) {
      this.#reserved++;
      (this.#slotWaiters.shift() as () => void)();
    }
  }

  #takeId(): number {
    const id = this.#pending.freeId(this.#nextId);
    this.#nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  /** Cancels call `id` on the server; the frame's name says 'timed-out' when its timeoutMs ran out. */
  #cancel(id: number, timedOut = false): void {
    if (!this.#ended.signal.aborted) this.#send(encodeFrame(REQ.cancel, id, timedOut ? 'timed-out' : '', NO_BYTES));
  }

  /** Queues a frame; the frames of one tick go out together, then one doorbell. */
  #send(frame: Uint8Array): void {
    this.#outbox.push(frame);
    if (this.#outbox.length === 1 && !this.#flushing) queueMicrotask(() => void this.#flush().catch(() => {}));
  }

  #flush(): Promise<void> {
    this.#flushing ??= this.#drainOutbox().finally(() => {
      this.#flushing = undefined;
      // A call made in the microtask between the outbox running dry and this
      // line found a flush still "running" and scheduled none: send it now.
      if (this.#outbox.length > 0) void this.#flush().catch(() => {});
    });
    return this.#flushing;
  }

  async #drainOutbox(): Promise<void> {
    while (this.#outbox.length > 0) {
      const batch = this.#outbox;
      this.#outbox = [];
      let sent = this.#req.tryPushMany(batch);
      if (sent > 0) this.#header.ringDoorbell();
      // The ring is full: wait for room (a shared futex waiter thread sleeps, not the loop).
      for (; sent < batch.length; sent++) {
        await this.#req.push(batch[sent] as Uint8Array, { signal: this.#ended.signal, ref: false });
        this.#header.ringDoorbell();
      }
    }
  }

  #setRef(ref: boolean): void {
    if (this.#ref === ref) return;
    this.#ref = ref;
    this.#reader?.abort(); // the read loop waits again with the new ref
  }

  /** Ends the connection: pending calls reject with `error`. */
  #end(error: Error, reason: ClientDisconnectReason, emit = true): void {
    if (this.#ended.signal.aborted) return;
    this.#ended.abort();
    this.#reader?.abort();
    for (const call of this.#pending.values()) call.reject(error);
    this.#pending.clear();
    for (const resolve of this.#slotWaiters.splice(0)) resolve();
    this.#watch.close();
    for (const ring of [this.#req, this.#res]) {
      const name = ring.name;
      ring.close();
      unlinkQuietly(name);
    }
    this.#header.close();
    if (emit) this.emit('disconnect', reason);
  }

  #live(): void {
    if (this.#ended.signal.aborted) throw codedError('ERR_SHMKIT_CLOSED', `Client of '${this.service}' is closed`);
  }

  #encode(value: unknown): Uint8Array {
    return this.#codec.encode(value, this.service, this.#frames.owner);
  }
}

function callOptions(options: CallOptions | undefined): {
  timeoutMs: number;
  signal: AbortSignal | undefined;
  whenBusy: 'wait' | 'reject';
} {
  const opts = validateOptions(options);
  const whenBusy = opts.whenBusy ?? 'wait';
  if (whenBusy !== 'wait' && whenBusy !== 'reject') throw typeError('options.whenBusy', "'wait' or 'reject'", whenBusy);
  return {
    timeoutMs: validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs'),
    signal: validateAbortSignal(opts.signal, 'options.signal'),
    whenBusy,
  };
}

function requireMethod(method: unknown): void {
  if (typeof method !== 'string') throw typeError('method', 'a string', method);
}

/**
 * Frees the slots of clients that died between claiming a slot and
 * announcing their rings (the server only looks at slots announced ready),
 * with the rings they may have left. Runs when no slot is free. True if one was freed.
 */
function reclaimAbandoned(service: string, header: ServiceHeader): boolean {
  let freed = false;
  for (let slot = 0; slot < header.limits.maxClients; slot++) {
    if (header.slotState(slot) !== SLOT_STATE.claimed) continue;
    const at = header.slot(slot);
    const life = processLife(at.pid);
    if (life.alive && (life.startTicks === undefined || at.startTicks === 0 || life.startTicks === at.startTicks))
      continue;
    if (!header.releaseClaim(slot, at.generation)) continue; // it moved on meanwhile
    const names = ringNames(service, slot, at.generation);
    unlinkQuietly(names.req);
    unlinkQuietly(names.res);
    freed = true;
  }
  return freed;
}

function finite(ms: number): number | undefined {
  return Number.isFinite(ms) ? ms : undefined;
}

function unlinkQuietly(name: string): void {
  try {
    RingBuffer.unlink(name);
  } catch {
    // removed already (by the server, or never created)
  }
}

/** Opens the header; with `wait`, waits for the name to appear (inotify on /dev/shm) and its magic to be written. */
async function openHeader(
  service: string,
  wait: boolean,
  left: () => number,
  signal: AbortSignal | undefined,
): Promise<ServiceHeader> {
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    try {
      return ServiceHeader.open(service);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const notYet =
        code === 'ENOENT' ||
        (code === 'ERR_SHMKIT_BAD_SERVICE' && /still being created/.test((error as Error).message));
      if (!wait || !notYet) throw error;
      if (left() <= 0) throw serviceError('ETIMEDOUT', service, 'it did not appear in time');
      await appearance(service, code === 'ENOENT' ? left() : Math.min(left(), 5), signal);
    }
  }
}

/** Resolves when something named `service` is created in /dev/shm, or after `ms`. */
function appearance(service: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const file = service.slice(1);
    let watcher: fs.FSWatcher | undefined;
    const done = () => {
      clearTimeout(timer);
      watcher?.close();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Number.isFinite(ms) ? ms : 2 ** 31 - 1);
    try {
      watcher = fs.watch('/dev/shm', (_event, name) => {
        if (name === file) done();
      });
    } catch {
      // no inotify here: the timer (short when the name exists) decides
    }
    // Created between our open and the watch: look once more.
    if (fs.existsSync(`/dev/shm/${file}`)) done();
    signal?.addEventListener('abort', done, { once: true });
  });
}
