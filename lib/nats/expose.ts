/**
 * exposeService(): a local Service also answers NATS requests, so callers on
 * other hosts reach the handlers that shared-memory clients reach
 * (docs/beyond-one-host.md; the subject layout is in ./protocol.ts).
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { typeError, validateInteger, validateOptions } from '../core/validate.js';
import { type ErrorPayload, encodeErrorPayload, errorPayload } from '../services/errors.js';
import { Service } from '../services/service.js';
import type { ResolvedCodec } from '../structures/codecs.js';
import { loadNats, type NatsModule } from './load.js';
import {
  type CallKind,
  CONTROL,
  HEADER,
  NATS_PING_MS,
  NATS_STREAM_WINDOW,
  type ReplyStatus,
  validSubject,
} from './protocol.js';

/** Options of {@link exposeService}. */
export interface ExposeServiceOptions {
  /** The subject prefix the service answers on: `<subject>.<method>`. */
  subject: string;
  /** A NATS queue group: several hosts exposing the same service share its calls (each call reaches one). */
  queue?: string;
  /** How long a caller may leave a stream's chunk, or a ping, unanswered before it counts as gone, in ms (default 60 000). */
  chunkTimeoutMs?: number;
}

/** The service's side over NATS, from {@link exposeService}. */
export interface ExposedService {
  readonly subject: string;
  /** Calls from NATS running now. */
  readonly inFlight: number;
  /** Counters: calls (and streams) started over NATS, and those cancelled by their caller (a cancel, a vanished inbox, its timeout). */
  stats(): { callsStarted: number; callsCancelled: number; notifications: number };
  /** Stops answering: unsubscribes, aborts the handlers of calls from NATS, and restores `service.broadcast`. Safe twice. */
  close(): Promise<void>;
}

/** What a handler's `ctx.client` is for a caller over NATS. */
export interface NatsCaller {
  readonly transport: 'nats';
  /** The subject the call came on (`<subject>.<method>`). */
  readonly subject: string;
  /** The caller's reply subject (unique per call). */
  readonly reply: string;
}

/**
 * Makes `service` answer NATS requests on `<subject>.<method>` as well: the
 * same handlers, codec and error shape (a caller gets a RemoteError with
 * code, message, data and method; an unknown method `ERR_SHMKIT_NO_SUCH_METHOD`).
 * A stream's chunks go to the caller one NATS request each (its reply is the
 * credit, at most 64 ahead) and end with an `end` marker. A handler's
 * `ctx.signal` aborts when the caller sends a cancel (timeout, abort, a loop
 * left early), its timeout passes, or its inbox is gone (a chunk, or the
 * ping sent every second to the caller of a running call, meets "no
 * responders" or waits longer than `chunkTimeoutMs`). `service.broadcast()`
 * also publishes to `<subject>._events` while exposed.
 * @throws (rejects) `ERR_SHMKIT_NO_NATS` without the `nats` package; TypeError naming the option.
 */
export async function exposeService(
  service: Service,
  nc: NatsConnection,
  options: ExposeServiceOptions,
): Promise<ExposedService> {
  if (!(service instanceof Service)) throw typeError('service', 'a Service', service);
  const opts = validateOptions(options);
  const subject = validSubject(opts.subject, 'options.subject');
  const queue = opts.queue === undefined ? undefined : validSubject(opts.queue, 'options.queue');
  const chunkTimeoutMs =
    opts.chunkTimeoutMs === undefined
      ? 60_000
      : validateInteger(opts.chunkTimeoutMs, 'options.chunkTimeoutMs', 1, 2 ** 31 - 1);
  const nats = await loadNats();
  return new Exposure(service, nc, nats, { subject, queue, chunkTimeoutMs });
}

class Exposure implements ExposedService {
  readonly subject: string;
  readonly #service: Service;
  readonly #nc: NatsConnection;
  readonly #nats: NatsModule;
  readonly #codec: ResolvedCodec<unknown>;
  readonly #chunkTimeoutMs: number;
  readonly #running = new Map<string, AbortController>(); // by reply subject
  readonly #cleanups = new Map<string, () => void>(); // by reply subject: its timers
  readonly #pinging = new Set<string>(); // reply subjects with a ping out
  readonly #closed = new AbortController();
  readonly #subs: Subscription[];
  readonly #broadcast: Service['broadcast'];
  readonly #counts = { callsStarted: 0, callsCancelled: 0, notifications: 0 };

  constructor(
    service: Service,
    nc: NatsConnection,
    nats: NatsModule,
    opts: { subject: string; queue: string | undefined; chunkTimeoutMs: number },
  ) {
    this.subject = opts.subject;
    this.#service = service;
    this.#nc = nc;
    this.#nats = nats;
    this.#codec = service.remoteCodec;
    this.#chunkTimeoutMs = opts.chunkTimeoutMs;
    const calls = nc.subscribe(`${this.subject}.>`, {
      ...(opts.queue ? { queue: opts.queue } : {}),
      callback: (error, msg) => {
        if (!error) this.#onRequest(msg);
      },
    });
    // Not in the queue group: a cancel must reach the member running the call.
    const cancels = nc.subscribe(`${this.subject}.${CONTROL.cancel}`, {
      callback: (error, msg) => {
        if (!error) this.#onCancel(msg);
      },
    });
    this.#subs = [calls, cancels];
    // Service has no hook for its broadcasts: wrap this instance's method
    // (restored by close()) so that code calling svc.broadcast() reaches
    // remote clients too, without knowing it is exposed.
    this.#broadcast = service.broadcast;
    const original = this.#broadcast;
    service.broadcast = (event: string, value: unknown) => {
      original.call(service, event, value);
      this.#publishEvent(event, value);
    };
  }

  get inFlight(): number {
    return this.#running.size;
  }

  stats(): { callsStarted: number; callsCancelled: number; notifications: number } {
    return { ...this.#counts };
  }

  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    for (const sub of this.#subs) sub.unsubscribe();
    // The calls still running get an answer (their callers may have no timeout) and lose their
    // timers (a handler that ignores its signal would otherwise keep a ping interval going).
    const closed = this.#encodeError({
      code: 'ERR_SHMKIT_SERVICE_CLOSED',
      message: `service '${this.#service.name}' stopped answering on NATS subject '${this.subject}'`,
    });
    for (const [reply, controller] of [...this.#running]) {
      if (!controller.signal.aborted) this.#answer(reply, 'error', closed);
      controller.abort();
      this.#cleanups.get(reply)?.();
    }
    // Our own property: deleting it brings back the prototype's method.
    if (Object.hasOwn(this.#service, 'broadcast')) delete (this.#service as { broadcast?: unknown }).broadcast;
    if (!this.#nc.isClosed()) await this.#nc.flush().catch(() => {});
  }

  #publishEvent(event: string, value: unknown): void {
    if (this.#nc.isClosed()) return;
    const h = this.#nats.headers();
    h.set(HEADER.event, event);
    this.#nc.publish(`${this.subject}.${CONTROL.events}`, this.#encode(value), { headers: h });
  }

  #onCancel(msg: Msg): void {
    const reply = new TextDecoder().decode(msg.data);
    const controller = this.#running.get(reply);
    if (controller && !controller.signal.aborted) {
      this.#counts.callsCancelled++;
      controller.abort();
    }
  }

  #onRequest(msg: Msg): void {
    const method = msg.subject.slice(this.subject.length + 1);
    if (method === CONTROL.cancel || method === CONTROL.events) return;
    const kind = (msg.headers?.get(HEADER.kind) || 'call') as CallKind;
    if (kind === 'notify') {
      this.#onNotify(method, msg);
      return;
    }
    if (!msg.reply) return; // a call nobody waits for
    let params: unknown;
    try {
      params = this.#codec.decode(msg.data, this.subject, `Service '${this.#service.name}' over NATS`);
    } catch (error) {
      this.#answer(msg.reply, 'error', this.#encodeError(errorPayload(error)));
      return;
    }
    const controller = new AbortController();
    const ctx = { signal: controller.signal, method, client: caller(msg) };
    let result: unknown;
    try {
      result = this.#service.runRemote(method, params, ctx);
    } catch (error) {
      // Unknown method, draining, or a handler that threw at once.
      this.#answer(msg.reply, 'error', this.#encodeError(errorPayload(error)));
      return;
    }
    this.#counts.callsStarted++;
    const reply = msg.reply;
    this.#running.set(reply, controller);
    const timeoutMs = Number(msg.headers?.get(HEADER.timeoutMs) || -1);
    const timer =
      timeoutMs >= 0
        ? setTimeout(() => {
            if (!controller.signal.aborted) this.#counts.callsCancelled++;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const watch = setInterval(() => this.#ping(reply, controller), NATS_PING_MS);
    const done = () => {
      clearTimeout(timer);
      clearInterval(watch);
      this.#running.delete(reply);
      this.#cleanups.delete(reply);
    };
    this.#cleanups.set(reply, done);
    if (kind === 'stream') void this.#runStream(reply, result, controller).finally(done);
    else void this.#runCall(reply, result, controller.signal).finally(done);
  }

  #onNotify(method: string, msg: Msg): void {
    try {
      const params = this.#codec.decode(msg.data, this.subject, `Service '${this.#service.name}' over NATS`);
      const ctx = { signal: this.#closed.signal, method, client: caller(msg) };
      const result = this.#service.runRemote(method, params, ctx) as Promise<unknown> | undefined;
      this.#counts.notifications++;
      if (result && typeof result.then === 'function') result.then(undefined, (error) => this.#report(error));
    } catch (error) {
      // An unknown method is dropped, as notify() over shared memory drops it.
      if ((error as { code?: string }).code !== 'ERR_SHMKIT_NO_SUCH_METHOD') this.#report(error);
    }
  }

  async #runCall(reply: string, result: unknown, signal: AbortSignal): Promise<void> {
    let status: ReplyStatus = 'ok';
    let bytes: Uint8Array;
    try {
      const value = await result;
      if (signal.aborted) return; // the caller gave up: nobody waits for it
      bytes = this.#encode(value);
    } catch (error) {
      if (signal.aborted) return;
      status = 'error';
      bytes = this.#encodeError(errorPayload(error));
    }
    this.#answer(reply, status, bytes);
  }

  async #runStream(reply: string, result: unknown, controller: AbortController): Promise<void> {
    const { signal } = controller;
    const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    const window: Promise<void>[] = [];
    let iterator: AsyncIterator<unknown> | Iterator<unknown> | undefined;
    try {
      const source = (await result) as AsyncIterable<unknown> | Iterable<unknown>;
      const make =
        (source as AsyncIterable<unknown>)?.[Symbol.asyncIterator] ?? (source as Iterable<unknown>)?.[Symbol.iterator];
      if (typeof make !== 'function') throw new TypeError('the handler of a stream returned no iterable');
      iterator = make.call(source);
      while (!signal.aborted) {
        const step = await Promise.race([iterator.next(), stopped]);
        if (!step || step.done || signal.aborted) break;
        window.push(this.#sendChunk(reply, this.#encode(step.value), controller));
        // Flow control: at most a window of chunks the caller has not taken.
        if (window.length >= NATS_STREAM_WINDOW) await Promise.race([window.shift(), stopped]);
      }
      if (signal.aborted) {
        endIterator(iterator);
        return;
      }
      this.#answer(reply, 'end', new Uint8Array(0));
    } catch (error) {
      if (signal.aborted) {
        if (iterator) endIterator(iterator);
        return;
      }
      this.#answer(reply, 'error', this.#encodeError(errorPayload(error)));
    }
  }

  /** One chunk, as a request: the caller's reply is its credit; no responders, a timeout or 'cancel' mean it is gone. */
  #sendChunk(reply: string, bytes: Uint8Array, controller: AbortController): Promise<void> {
    const h = this.#headers('chunk');
    return this.#nc.request(reply, bytes, { timeout: this.#chunkTimeoutMs, headers: h }).then(
      (answer) => {
        if (answer.headers?.get(HEADER.status) === 'cancel') this.#gone(controller);
      },
      () => this.#gone(controller),
    );
  }

  /**
   * Asks the caller of a call still running whether it is there: a caller
   * whose inbox is gone ("no responders"), that answers nothing within
   * chunkTimeoutMs, or that left the call cancels it — so a caller that
   * vanished (killed, disconnected) does not leave its handler running.
   */
  #ping(reply: string, controller: AbortController): void {
    if (this.#pinging.has(reply) || controller.signal.aborted || this.#nc.isClosed()) return;
    this.#pinging.add(reply);
    this.#nc
      .request(reply, new Uint8Array(0), { timeout: this.#chunkTimeoutMs, headers: this.#headers('ping') })
      .then(
        (answer) => {
          if (answer.headers?.get(HEADER.status) === 'cancel') this.#goneIfRunning(reply, controller);
        },
        () => this.#goneIfRunning(reply, controller),
      )
      .finally(() => this.#pinging.delete(reply));
  }

  /** A ping's verdict counts only for a call still running (it may have ended while the ping was out). */
  #goneIfRunning(reply: string, controller: AbortController): void {
    if (this.#running.get(reply) === controller) this.#gone(controller);
  }

  #gone(controller: AbortController): void {
    if (controller.signal.aborted) return;
    this.#counts.callsCancelled++;
    controller.abort();
  }

  #answer(reply: string, status: ReplyStatus, bytes: Uint8Array): void {
    if (this.#nc.isClosed()) return;
    this.#nc.publish(reply, bytes, { headers: this.#headers(status) });
  }

  #headers(status: ReplyStatus): MsgHdrs {
    const h = this.#nats.headers();
    h.set(HEADER.status, status);
    return h;
  }

  #encode(value: unknown): Uint8Array {
    return this.#codec.encode(value, this.subject, `Service '${this.#service.name}' over NATS`);
  }

  /** An error payload, encoded (services/errors.ts: `data` the codec cannot carry is left out). */
  #encodeError(payload: ErrorPayload): Uint8Array {
    return encodeErrorPayload(payload, (value) => this.#encode(value));
  }

  #report(error: unknown): void {
    if (this.#service.listenerCount('error') > 0) this.#service.emit('error', error);
  }
}

/**
 * Ends a cancelled stream's generator (its `finally` runs), without waiting:
 * a generator still inside a `next()` that never settles would hold us.
 */
function endIterator(iterator: AsyncIterator<unknown> | Iterator<unknown>): void {
  try {
    const ending = iterator.return?.() as Promise<unknown> | undefined;
    if (ending && typeof ending.then === 'function') ending.then(undefined, () => {});
  } catch {
    // a return() that throws: the stream is over anyway
  }
}

function caller(msg: Msg): NatsCaller {
  return { transport: 'nats', subject: msg.subject, reply: msg.reply ?? '' };
}
