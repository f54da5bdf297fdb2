/**
 * connectService(): a client of a Service exposed over NATS (./expose.ts)
 * with the interface of shmkit's Client — call(), stream(), notify(),
 * close() and 'notification' — so a program moves from one host to several
 * by its connect call alone.
 */
import { EventEmitter } from 'node:events';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { codedError } from '../core/errors.js';
import { abortError } from '../core/pending.js';
import { typeError, validateAbortSignal, validateOptions, validateTimeoutMs } from '../core/validate.js';
import type { CallOptions, ChunkOf, MethodName, ParamsOf, ResultOf, ServiceMethods } from '../services/client.js';
import { callError, type ErrorPayload, serviceError } from '../services/errors.js';
import { type CodecSpec, type ResolvedCodec, resolveCodec } from '../structures/codecs.js';
import { noServiceError, remoteClosedError } from './errors.js';
import { loadNats, type NatsModule } from './load.js';
import { type CallKind, CONTROL, HEADER, methodSubject, validSubject } from './protocol.js';

/** Options of {@link connectService}. */
export interface RemoteServiceOptions {
  /** The service's codec (default 'msgpack'). */
  codec?: CodecSpec<unknown>;
}

interface Pending {
  method: string;
  /** An answer (or a chunk) came on this call's reply subject. */
  onMessage(msg: Msg): void;
  fail(error: Error): void;
}

/**
 * Connects to the service exposed on NATS subject `subject` (by
 * {@link exposeService} on any host) through the NATS connection `nc`.
 * Connecting sends nothing: a call to a subject nobody serves rejects with
 * `ENOENT` (NATS "no responders").
 * @throws (rejects) `ERR_SHMKIT_NO_NATS` without the `nats` package; TypeError naming the argument.
 */
export async function connectService<M extends object = ServiceMethods>(
  nc: NatsConnection,
  subject: string,
  options?: RemoteServiceOptions,
): Promise<RemoteClient<M>> {
  validSubject(subject, 'subject');
  const opts = validateOptions(options);
  const codec = resolveCodec<unknown>(opts.codec ?? 'msgpack');
  const nats = await loadNats();
  return new RemoteClient<M>(nc, nats, subject, codec);
}

/**
 * A client of a service over NATS, with {@link Client}'s interface. Errors
 * of calls: {@link RemoteError} (the handler threw), `ETIMEDOUT`,
 * AbortError, `ERR_SHMKIT_NO_SUCH_METHOD`, `ERR_SHMKIT_SERVICE_DRAINING`,
 * `ENOENT` (no service on the subject), `ERR_SHMKIT_CLOSED` (closed).
 * Events: 'notification' (event, value) for the service's broadcasts.
 */
export class RemoteClient<M extends object = ServiceMethods> extends EventEmitter {
  /** The service's subject. */
  readonly service: string;
  readonly #nc: NatsConnection;
  readonly #nats: NatsModule;
  readonly #codec: ResolvedCodec<unknown>;
  readonly #prefix: string;
  readonly #pending = new Map<string, Pending>(); // by reply subject
  readonly #subs: Subscription[];
  #next = 1;
  #closed = false;

  /** @internal Use {@link connectService}. */
  constructor(nc: NatsConnection, nats: NatsModule, subject: string, codec: ResolvedCodec<unknown>) {
    super();
    this.service = subject;
    this.#nc = nc;
    this.#nats = nats;
    this.#codec = codec;
    this.#prefix = nats.createInbox();
    // One subscription for every call's answers: `<inbox>.<n>` per call.
    const answers = nc.subscribe(`${this.#prefix}.*`, {
      callback: (error, msg) => {
        if (!error) this.#onAnswer(msg);
      },
    });
    const events = nc.subscribe(`${subject}.${CONTROL.events}`, {
      callback: (error, msg) => {
        if (!error) this.#onEvent(msg);
      },
    });
    this.#subs = [answers, events];
  }

  /** Calls in flight (streams included). */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** Calls `method` with `params`; resolves with the handler's result. */
  call<K extends MethodName<M>>(method: K, params?: ParamsOf<M[K]>, options?: CallOptions): Promise<ResultOf<M[K]>> {
    try {
      const { timeoutMs, signal } = callOptions(options);
      requireMethod(method);
      this.#live();
      if (signal?.aborted) throw abortError(signal);
      return new Promise<ResultOf<M[K]>>((resolve, reject) => {
        const reply = this.#reply();
        const stop = this.#limit(reply, method, timeoutMs, signal, reject);
        this.#pending.set(reply, {
          method,
          fail: (error) => {
            stop();
            reject(error);
          },
          onMessage: (msg) => {
            this.#pending.delete(reply);
            stop();
            try {
              resolve(this.#result(msg, method) as ResultOf<M[K]>);
            } catch (error) {
              reject(error);
            }
          },
        });
        try {
          this.#send(method, 'call', params, reply, timeoutMs);
        } catch (error) {
          // Nothing went out (the codec refused the params, or the connection is closed): forget the call.
          this.#pending.delete(reply);
          stop();
          reject(error);
        }
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Calls a streaming method: yields each chunk in order. Leaving the loop
   * early (break, return, a throw) cancels the handler on the service.
   */
  async *stream<K extends MethodName<M>>(
    method: K,
    params?: ParamsOf<M[K]>,
    options?: CallOptions,
  ): AsyncGenerator<ChunkOf<M[K]>, void, undefined> {
    const { timeoutMs, signal } = callOptions(options);
    requireMethod(method);
    this.#live();
    if (signal?.aborted) throw abortError(signal);
    const reply = this.#reply();
    const chunks: Msg[] = [];
    let finished = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const poke = () => {
      wake?.();
      wake = undefined;
    };
    const stop = this.#limit(reply, method, timeoutMs, signal, (error) => {
      failure = error;
      poke();
    });
    this.#pending.set(reply, {
      method,
      fail: (error) => {
        failure = error;
        poke();
      },
      onMessage: (msg) => {
        const status = msg.headers?.get(HEADER.status);
        if (status === 'chunk') chunks.push(msg);
        else if (status === 'end') finished = true;
        else {
          try {
            this.#result(msg, method);
          } catch (error) {
            failure = error as Error;
          }
        }
        poke();
      },
    });
    try {
      this.#send(method, 'stream', params, reply, timeoutMs);
    } catch (error) {
      // Nothing went out: forget the stream (no cancel to send).
      this.#pending.delete(reply);
      stop();
      throw error;
    }
    try {
      for (;;) {
        while (chunks.length > 0) {
          const msg = chunks.shift() as Msg;
          msg.respond(); // taken: the service may send one more
          yield this.#decode(msg.data) as ChunkOf<M[K]>;
        }
        if (failure) throw failure;
        if (finished) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      stop();
      if (this.#pending.delete(reply) && !finished && !failure) this.#cancel(reply, false);
      for (const msg of chunks.splice(0)) this.#refuse(msg);
    }
  }

  /** Sends a notification: `method`'s handler runs on the service, nothing comes back. */
  notify<K extends MethodName<M>>(method: K, value?: ParamsOf<M[K]>): void {
    requireMethod(method);
    this.#live();
    this.#send(method, 'notify', value, undefined, -1);
  }

  /** Kept for Client's interface: the NATS connection, not this client, keeps the process alive. */
  unref(): this {
    return this;
  }

  /** Kept for Client's interface (see unref()). */
  ref(): this {
    return this;
  }

  /** Rejects pending calls with `ERR_SHMKIT_CLOSED` (their handlers are cancelled) and unsubscribes. Safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [reply, call] of [...this.#pending]) {
      this.#pending.delete(reply);
      this.#cancel(reply, false);
      call.fail(remoteClosedError(this.service));
    }
    for (const sub of this.#subs) sub.unsubscribe();
    if (!this.#nc.isClosed()) await this.#nc.flush().catch(() => {});
  }

  #reply(): string {
    return `${this.#prefix}.${this.#next++}`;
  }

  #send(method: string, kind: CallKind, params: unknown, reply: string | undefined, timeoutMs: number): void {
    const h = this.#nats.headers();
    h.set(HEADER.kind, kind);
    if (timeoutMs >= 0) h.set(HEADER.timeoutMs, String(timeoutMs));
    const data = this.#codec.encode(params, this.service, `Service '${this.service}' over NATS`);
    this.#nc.publish(methodSubject(this.service, method), data, { headers: h, ...(reply ? { reply } : {}) });
  }

  /** The result of an answer, or throws what the call rejects with. */
  #result(msg: Msg, method: string): unknown {
    if (msg.headers?.hasError && msg.headers.code === 503) throw noServiceError(this.service, method);
    const status = msg.headers?.get(HEADER.status);
    if (status === 'ok') return this.#decode(msg.data);
    if (status === 'error') throw callError(this.#decode(msg.data) as ErrorPayload, method);
    throw codedError('ERR_SHMKIT_PROTOCOL_MISMATCH', `service '${this.service}' answered with status '${status}'`);
  }

  #onAnswer(msg: Msg): void {
    const call = this.#pending.get(msg.subject);
    if (msg.headers?.get(HEADER.status) === 'ping') {
      // A stream's service asks whether this caller is still there.
      if (call) msg.respond();
      else this.#refuse(msg);
    } else if (call) call.onMessage(msg);
    else if (msg.reply) this.#refuse(msg); // a chunk of a stream this client left: tell the service to stop
  }

  #onEvent(msg: Msg): void {
    const event = msg.headers?.get(HEADER.event) ?? '';
    let value: unknown;
    try {
      value = this.#decode(msg.data);
    } catch {
      return; // not for this codec: nothing to tell
    }
    this.emit('notification', event, value);
  }

  #refuse(msg: Msg): void {
    if (!msg.reply || this.#nc.isClosed()) return;
    const h: MsgHdrs = this.#nats.headers();
    h.set(HEADER.status, 'cancel');
    msg.respond(new Uint8Array(0), { headers: h });
  }

  #cancel(reply: string, timedOut: boolean): void {
    if (this.#nc.isClosed()) return;
    const h = this.#nats.headers();
    if (timedOut) h.set(HEADER.reason, 'timed-out');
    this.#nc.publish(`${this.service}.${CONTROL.cancel}`, new TextEncoder().encode(reply), { headers: h });
  }

  /** The call's timeout and signal: either one ends it with `fail` and cancels the handler. */
  #limit(
    reply: string,
    method: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    fail: (error: Error) => void,
  ): () => void {
    const giveUp = (error: Error, timedOut: boolean) => {
      const call = this.#pending.get(reply);
      if (!call) return;
      this.#pending.delete(reply);
      this.#cancel(reply, timedOut);
      fail(error);
    };
    const timer =
      timeoutMs >= 0
        ? setTimeout(
            () => giveUp(serviceError('ETIMEDOUT', this.service, `'${method}' took longer than ${timeoutMs} ms`), true),
            timeoutMs,
          )
        : undefined;
    const onAbort = () => giveUp(abortError(signal as AbortSignal), false);
    signal?.addEventListener('abort', onAbort, { once: true });
    return () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  }

  #decode(bytes: Uint8Array): unknown {
    return this.#codec.decode(bytes, this.service, `Service '${this.service}' over NATS`);
  }

  #live(): void {
    if (this.#closed) throw remoteClosedError(this.service);
  }
}

function callOptions(options: CallOptions | undefined): { timeoutMs: number; signal: AbortSignal | undefined } {
  const opts = validateOptions(options);
  return {
    timeoutMs: validateTimeoutMs(opts.timeoutMs, 'options.timeoutMs'),
    signal: validateAbortSignal(opts.signal, 'options.signal'),
  };
}

function requireMethod(method: unknown): void {
  if (typeof method !== 'string') throw typeError('method', 'a string', method);
}
