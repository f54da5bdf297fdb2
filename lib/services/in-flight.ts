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
 * @internal A call in flight: its id, method, connection and arrival,
 * whether it was cancelled, and the context its handler gets (`ctx`: a
 * plain object, so a handler may spread it; its `signal` is an own getter
 * that makes the AbortSignal on first use).
 */
export class InFlightCall {
  #controller: AbortController | undefined;
  #aborted = false;
  /** What the handler gets: `{ signal, client, method }`. */
  readonly ctx: CallContext;

  constructor(
    readonly id: number,
    readonly method: string,
    readonly client: Connection,
    /** performance.now() when the call arrived (ms). */
    readonly arrived: number,
  ) {
    const call = this;
    this.ctx = {
      client,
      method,
      get signal() {
        return call.signal;
      },
    };
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
