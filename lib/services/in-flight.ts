/**
 * One call in flight on the server, and the context its handler gets. The
 * handler's `ctx.signal` is made only when the handler reads it: an
 * AbortController per call cost more than the rest of a call's work on the
 * server (CPU profiles of the pipelined bench), and most handlers never look.
 */
import type { Connection } from './connection.js';

/** What a handler gets besides its params. */
export interface CallContext {
  /** Aborts when the caller cancels (timeout, AbortSignal, a broken stream loop), the client dies, or the service is forced closed. */
  readonly signal: AbortSignal;
  /** The caller's connection. */
  readonly client: Connection;
  /** The method called. */
  readonly method: string;
}

/**
 * The `ctx` of one call: own enumerable `client`, `method` and `signal`
 * (so `{ ...ctx }` keeps all three). `signal` is an accessor that makes the
 * AbortSignal on first use. It is defined with one shared descriptor: a
 * getter written in an object literal is a new function per call, which
 * gives every ctx a map (hidden class) of its own — 2 µs a call and a
 * full GC every few thousand calls in the pipelined bench.
 */
class Context implements CallContext {
  readonly client: Connection;
  readonly method: string;
  declare readonly signal: AbortSignal;
  readonly #call: InFlightCall;
  static readonly #signal: PropertyDescriptor = {
    enumerable: true,
    get(this: Context): AbortSignal {
      return this.#call.signal;
    },
  };

  constructor(call: InFlightCall) {
    this.client = call.client;
    this.method = call.method;
    this.#call = call;
    Object.defineProperty(this, 'signal', Context.#signal);
  }
}

/**
 * @internal A call in flight: its id, method, connection and arrival,
 * whether it was cancelled, and the context its handler gets (`ctx`).
 */
export class InFlightCall {
  #controller: AbortController | undefined;
  #aborted = false;
  /** What the handler gets: `{ client, method, signal }`. */
  readonly ctx: CallContext;
  /** Whether the call is in its connection's calls in flight (one that outlived its handler's return). */
  tracked = false;

  constructor(
    readonly id: number,
    readonly method: string,
    readonly client: Connection,
    /** performance.now() when the call arrived (ms). */
    readonly arrived: number,
  ) {
    this.ctx = new Context(this);
  }

  /** True once the call was cancelled (by its caller, its connection's end, or a forced close). */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** The signal the handler sees, made on first use (already aborted if the call was). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  /** Cancels the call: its signal (if anyone took it) aborts. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#controller?.abort();
  }
}
