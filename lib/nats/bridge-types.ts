/** The shapes a bridge shares with its two directions (./bridge-out.ts, ./bridge-in.ts), and its counters. */
import type { NatsConnection } from 'nats';
import { validateInteger, validateOptions } from '../core/validate.js';

/** Counters of a bridge. */
export interface BridgeStats {
  /** Messages forwarded (for JetStream 'out': acknowledged by the stream). */
  forwarded: number;
  /**
   * Messages it could not forward: a publish that failed (core NATS), a
   * topic that refused it; 'out': those stop() could not deliver within its
   * `drainTimeoutMs` (JetStream: not acknowledged; core NATS: published since
   * the last flush the server answered), and those queued when `done` failed.
   */
  notForwarded: number;
  /**
   * 'out': messages the local topic overwrote before the bridge read them
   * ('drop-oldest'), and, when a JetStream bridge resumes after the stream's
   * last message, those its log no longer held.
   */
  lagged: number;
  /** JetStream: publishes sent again after a failure ('out'); messages delivered again that were already forwarded ('in'). */
  retried: number;
  /** JetStream 'in': messages that came ahead of a missing one, put back until it comes. */
  reordered: number;
  /** Times the NATS client reconnected while the bridge ran. */
  reconnects: number;
  /**
   * JetStream 'in': messages the stream no longer had when the bridge came
   * to them (its limits or a deletion dropped them): skipped, not waited for.
   */
  lost: number;
}

/** A running bridge. */
export interface TopicBridge {
  readonly direction: 'out' | 'in';
  readonly subject: string;
  /**
   * 'out': resolves once the local topic ended (its publisher closed or
   * died) and every message was forwarded (acknowledged, with JetStream), or
   * once stop() has drained; 'in': once stopped. Rejects with what stopped
   * the bridge otherwise.
   */
  readonly done: Promise<void>;
  stats(): BridgeStats;
  /**
   * Stops: unsubscribes from NATS and the topic (a topic the bridge created
   * is closed and removed). 'out' first drains: it reads no more of the
   * topic and waits up to `options.drainTimeoutMs` for what it published to
   * be acknowledged (JetStream) or flushed to the server (core NATS); what
   * is still undelivered then is counted in `notForwarded`. A second call
   * ends the drain at once. Safe twice.
   */
  stop(options?: BridgeStopOptions): Promise<void>;
}

/** Options of {@link TopicBridge.stop}. */
export interface BridgeStopOptions {
  /** 'out': how long to wait for the publishes still unacknowledged (or unflushed), in ms (default 5000). */
  drainTimeoutMs?: number;
}

/** stop()'s drain time, checked; 5000 ms by default. */
export function drainTimeoutOf(options: BridgeStopOptions | undefined): number {
  const opts = validateOptions(options);
  return opts.drainTimeoutMs === undefined
    ? 5000
    : validateInteger(opts.drainTimeoutMs, 'options.drainTimeoutMs', 0, 2 ** 31 - 1);
}

/** JetStream options, checked, with defaults. */
export interface JetStreamBridgeOptions {
  stream: string;
  durable: string;
  ackWaitMs: number;
  failAfterMs: number;
}

/** Counts the client's reconnects into `stats` until `signal` aborts. */
export function countReconnects(nc: NatsConnection, stats: BridgeStats, signal: AbortSignal): void {
  // At run time a QueuedIterator: stop() ends the loop below.
  const status = nc.status() as AsyncIterable<{ type: string }> & { stop?(): void };
  signal.addEventListener('abort', () => status.stop?.(), { once: true });
  void (async () => {
    for await (const event of status) if (event.type === 'reconnect') stats.reconnects++;
  })().catch(() => {});
}

/** A fresh counter set. */
export function newStats(): BridgeStats {
  return { forwarded: 0, notForwarded: 0, lagged: 0, retried: 0, reordered: 0, reconnects: 0, lost: 0 };
}
