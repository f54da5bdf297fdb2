/**
 * The server's side of one client connection: its two rings, the calls in
 * flight (each with the AbortController its handler sees), and the queue of
 * responses the response ring had no room for. The server never waits for
 * one client: a response that does not fit is queued and pushed later by an
 * async push (a shared futex waiter thread sleeps for it, not the loop); a
 * client that lets more than `maxQueuedBytes` pile up is evicted.
 */
import { ProcessWatch } from '../primitives/process-watch.js';
import { RingBuffer } from '../structures/ring/ring-buffer.js';
import type { InFlightCall } from './in-flight.js';

/** Why a connection ended (the 'disconnect' event's reason). */
export type DisconnectReason = 'closed' | 'died' | 'slow-consumer' | 'protocol';

export class Connection {
  /** The connection's id: '<slot>.<generation>'. */
  readonly id: string;
  readonly slot: number;
  readonly generation: number;
  /** The client's pid. */
  readonly pid: number;
  /** @internal */ readonly req: RingBuffer;
  /** @internal */ readonly res: RingBuffer;
  /** @internal The calls in flight, by id. */
  readonly inFlight = new Map<number, InFlightCall>();
  /** @internal The streams running: id → their credit (chunks they may still send) and the wake of a stream waiting for more. */
  readonly streams = new Map<number, { credit: number; wake: (() => void) | undefined }>();
  /** @internal Set once the HELLO was answered. */
  welcomed = false;
  /** @internal Ends the connection's async pushes and its watch. */
  readonly ended = new AbortController();
  #watch: ProcessWatch | undefined;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #flushing = false;
  readonly #maxQueuedBytes: number;
  readonly #onFail: (reason: 'slow-consumer' | 'protocol') => void;

  /** @internal */
  constructor(
    names: { req: string; res: string },
    at: { slot: number; generation: number; pid: number },
    maxQueuedBytes: number,
    onFail: (reason: 'slow-consumer' | 'protocol') => void,
  ) {
    this.slot = at.slot;
    this.generation = at.generation;
    this.pid = at.pid;
    this.id = `${at.slot}.${at.generation}`;
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#onFail = onFail;
    this.req = RingBuffer.open(names.req);
    try {
      this.res = RingBuffer.open(names.res);
    } catch (error) {
      this.req.close();
      throw error;
    }
  }

  /** @internal Watches the client's process; `onDeath` runs once it has died. */
  watch(startTicks: number, onDeath: () => void): void {
    this.#watch = ProcessWatch.open(this.pid, { startTicks });
    this.#watch.exit({ signal: this.ended.signal }).then(onDeath, () => {});
  }

  /** Response bytes queued for a full ring. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** @internal Sends a frame: now if the ring has room and nothing waits before it, else queued. */
  send(frame: Uint8Array): void {
    if (this.ended.signal.aborted) return;
    try {
      if (this.#queue.length === 0 && this.res.tryPush(frame)) return;
    } catch {
      this.#onFail('protocol'); // the client corrupted its response ring: only this connection ends
      return;
    }
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    if (this.#queuedBytes > this.#maxQueuedBytes) {
      this.#onFail('slow-consumer');
      return;
    }
    if (!this.#flushing) void this.#flush();
  }

  /**
   * @internal Pushes a last frame (a CLOSED on the way out) if it fits now,
   * ahead of anything queued (which the end discards): never waits, never
   * throws. It must not wait behind the queue: a client that has read its
   * ring empty, found its slot still connected and parked just before the
   * slot was freed, learns of its end only from this frame.
   */
  tell(frame: Uint8Array): void {
    if (this.ended.signal.aborted) return;
    try {
      this.res.tryPush(frame);
    } catch {
      // a ring the client corrupted: it learns from its slot
    }
  }

  /** @internal Resolves once nothing is queued (a stream waits here before its next chunk). */
  async drained(): Promise<void> {
    while (this.#queue.length > 0 && !this.ended.signal.aborted) await this.#idle;
  }
  #idle: Promise<void> = Promise.resolve();
  #resolveIdle: () => void = () => {};

  async #flush(): Promise<void> {
    this.#flushing = true;
    this.#idle = new Promise((resolve) => {
      this.#resolveIdle = resolve;
    });
    try {
      while (this.#queue.length > 0) {
        const frame = this.#queue[0] as Uint8Array;
        await this.res.push(frame, { signal: this.ended.signal, ref: false });
        this.#queue.shift();
        this.#queuedBytes -= frame.length;
      }
    } catch {
      // Ended (aborted or closed): the connection is going away. Otherwise
      // the ring itself failed (a client that corrupted it): end it here, or
      // drained() would wait forever.
      if (!this.ended.signal.aborted) this.#onFail('protocol');
    } finally {
      this.#flushing = false;
      this.#resolveIdle();
    }
  }

  /** @internal Ends the connection: its handlers aborted, its rings closed and removed. */
  end(): void {
    if (this.ended.signal.aborted) return;
    this.ended.abort();
    for (const call of this.inFlight.values()) call.abort();
    this.inFlight.clear();
    for (const stream of this.streams.values()) stream.wake?.();
    this.streams.clear();
    this.#watch?.close();
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    for (const ring of [this.req, this.res]) {
      const name = ring.name;
      ring.close();
      try {
        RingBuffer.unlink(name);
      } catch {
        // the client removed it already
      }
    }
  }
}
