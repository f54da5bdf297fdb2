/**
 * The 'out' direction of bridgeTopic(): reads a local Topic as one of its
 * subscribers and publishes each message to NATS — core NATS (at most once,
 * failed publishes counted) or JetStream (acknowledged, in order, retried
 * across server restarts).
 */
import type { JetStreamClient, NatsConnection } from 'nats';
import type { CodecSpec, ResolvedCodec } from '../structures/codecs.js';
import type { Subscriber } from '../structures/topic/subscriber.js';
import { Topic } from '../structures/topic/topic.js';
import {
  type BridgeStats,
  type BridgeStopOptions,
  countReconnects,
  drainTimeoutOf,
  type JetStreamBridgeOptions,
  newStats,
  type TopicBridge,
} from './bridge-types.js';
import { bridgeRefused } from './errors.js';
import { ensureStream, lastMsgId } from './jetstream.js';
import type { NatsModule } from './load.js';

/** JetStream publishes awaiting their acknowledgement at once (they keep their order on the one connection). */
const WINDOW = 256;
/** How long one JetStream publish waits for its acknowledgement, in ms. */
const PUBLISH_TIMEOUT_MS = 2000;
/** Core NATS: how often, at most, the bridge asks the server to confirm what it has (a flush), in ms. */
const FLUSH_EVERY_MS = 50;
/** JetStream's error code for a publish whose Nats-Expected-Last-Msg-Id is not the stream's last. */
const WRONG_LAST_MSG_ID = 10070;

interface Entry {
  id: string;
  bytes: Uint8Array;
  state: 'sent' | 'acked' | 'failed';
}

export class BridgeOut implements TopicBridge {
  readonly direction = 'out' as const;
  readonly subject: string;
  readonly done: Promise<void>;
  readonly #nc: NatsConnection;
  readonly #sub: Subscriber<unknown>;
  readonly #codec: ResolvedCodec<unknown>;
  /** Aborted when the bridge must end now: its run is over, or stop()'s drain ran out of time. */
  readonly #stop: AbortController;
  readonly #stats = newStats();
  /** Set by stop(): read no more of the topic, deliver what is in flight. */
  #draining = false;
  /** Who encodes, for the errors of the codec (made once: encode runs for every message). */
  readonly #owner: string;
  /** JetStream: how long publishes may keep being refused before `done` fails, in ms. */
  readonly #failAfterMs: number;
  /** The local topic's identity in message IDs (JetStream): `<publisher pid>.<creation time, ms>`. */
  readonly #topicId: string;
  /** Wakes the run loop (JetStream) when it waits for an acknowledgement. */
  #poke: () => void = () => {};

  static async start(
    name: string,
    nc: NatsConnection,
    nats: NatsModule,
    opts: {
      subject: string;
      codec: ResolvedCodec<unknown>;
      codecSpec: CodecSpec<unknown>;
      js: JetStreamBridgeOptions | undefined;
    },
  ): Promise<BridgeOut> {
    const stop = new AbortController();
    if (!opts.js) {
      const sub = Topic.subscribe(name, { codec: opts.codecSpec, signal: stop.signal });
      return new BridgeOut(nc, sub, stop, opts.subject, opts.codec, undefined, '');
    }
    await ensureStream(nc, nats, opts.js.stream, opts.subject);
    const last = parseMsgId(await lastMsgId(nc, opts.js.stream, opts.subject));
    for (let attempt = 0; ; attempt++) {
      // Where the stream stands, if it came from this very topic (its publisher and creation time):
      // resume after it; another topic's, or none, from now on.
      const topic = topicIdentity(name);
      const from = last && last.topic === topic ? { seq: (last.seq + 1) >>> 0 } : 'now';
      const sub = Topic.subscribe(name, { codec: opts.codecSpec, signal: stop.signal, from });
      if (topicIdentity(name) === topic || attempt === 2)
        return new BridgeOut(nc, sub, stop, opts.subject, opts.codec, nc.jetstream(), topic ?? '', opts.js.failAfterMs);
      sub.close(); // the topic was created again meanwhile: look again
    }
  }

  private constructor(
    nc: NatsConnection,
    sub: Subscriber<unknown>,
    stop: AbortController,
    subject: string,
    codec: ResolvedCodec<unknown>,
    js: JetStreamClient | undefined,
    topic: string,
    failAfterMs = 0,
  ) {
    this.#topicId = topic;
    this.#owner = `the bridge of topic '${sub.name}'`;
    this.#failAfterMs = failAfterMs;
    this.#nc = nc;
    this.#sub = sub;
    this.#stop = stop;
    this.subject = subject;
    this.#codec = codec;
    sub.on('lagged', (skipped: number) => {
      this.#stats.lagged += skipped;
    });
    countReconnects(nc, this.#stats, stop.signal);
    this.done = this.#run(js);
    this.done.catch(() => {}); // reported through `done`; not an unhandled rejection meanwhile
  }

  stats(): BridgeStats {
    return { ...this.#stats };
  }

  async stop(options?: BridgeStopOptions): Promise<void> {
    const drainTimeoutMs = drainTimeoutOf(options);
    if (this.#draining)
      this.#stop.abort(); // a second stop(): no more waiting
    else {
      this.#draining = true;
      this.#sub.close(); // a pending next() resolves done: the run loop goes on to drain
      const timer = setTimeout(() => this.#stop.abort(), drainTimeoutMs);
      void this.done.catch(() => {}).finally(() => clearTimeout(timer));
      this.#poke();
    }
    await this.done.catch(() => {});
  }

  async #run(js: JetStreamClient | undefined): Promise<void> {
    try {
      if (js) await this.#runJetStream(js);
      else await this.#runCore();
    } catch (error) {
      if (!this.#stop.signal.aborted) throw error;
    } finally {
      this.#sub.close();
      this.#stop.abort(); // ends the reconnect counter
    }
  }

  /**
   * Core NATS: the messages the topic holds are published in one go without
   * yielding (nats.js writes them out together at the next await), then the
   * loop waits for more. A flush now and then (one at a time, at most every
   * FLUSH_EVERY_MS) tells which of them the server has, so that a drain that
   * runs out of time counts only those it cannot vouch for.
   */
  async #runCore(): Promise<void> {
    const flushes = new FlushTracker(this.#nc);
    const sub = this.#sub;
    for (;;) {
      if (this.#draining) break;
      let step = sub.tryNext();
      if (step === undefined) {
        // The batch read so far goes out in one write (nats.js writes at the next await).
        flushes.flush();
        step = await sub.next();
      }
      if (step.done) break;
      let bytes: Uint8Array;
      try {
        bytes = this.#encode(step.value);
      } catch {
        this.#stats.notForwarded++;
        continue;
      }
      this.#publishCore(bytes, flushes);
    }
    // Closed (nc.close() writes out what was published before it closes): nothing left to confirm.
    if (this.#nc.isClosed()) return;
    const flushed = await flushes.drain(this.#stop.signal);
    if (!flushed) {
      const unconfirmed = flushes.sent - flushes.confirmed;
      this.#stats.forwarded -= unconfirmed;
      this.#stats.notForwarded += unconfirmed;
    }
  }

  /** Core NATS: publishes one message, counting it. */
  #publishCore(bytes: Uint8Array, flushes: FlushTracker): void {
    try {
      this.#nc.publish(this.subject, bytes);
      this.#stats.forwarded++;
      flushes.sent++;
    } catch {
      this.#stats.notForwarded++; // the connection is closed (or the message too large for the server)
    }
  }

  /**
   * JetStream: up to WINDOW publishes in flight, each naming the one before
   * it (`expect.lastMsgID`), so the stream only ever appends in order. After
   * a failure (a timeout across a server restart, "wrong last msg ID" behind
   * it) the bridge waits for every publish in flight to settle, then sends
   * again, in order, everything not acknowledged; the message IDs make the
   * stream drop the ones it had stored already (its duplicate window).
   */
  async #runJetStream(js: JetStreamClient): Promise<void> {
    const queue: Entry[] = [];
    let inFlight = 0;
    let failing = false;
    let lastAcked: string | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    let reading: Promise<IteratorResult<unknown, undefined>> | undefined;
    let backoffMs = 50;
    /** Since when (performance.now(), ms) the server or client has refused publishes with no ack since; and the last refusal. */
    let refusedSince: number | undefined;
    let refusal: unknown;
    const failAfterMs = this.#failAfterMs;
    const poke = () => {
      wake?.();
      wake = undefined;
    };
    this.#poke = poke;
    this.#stop.signal.addEventListener('abort', poke, { once: true });
    const woken = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
      });
    const send = (entry: Entry, expect: string | undefined) => {
      inFlight++;
      entry.state = 'sent';
      js.publish(this.subject, entry.bytes, {
        msgID: entry.id,
        timeout: PUBLISH_TIMEOUT_MS,
        ...(expect ? { expect: { lastMsgID: expect } } : {}),
      })
        .then(
          () => {
            entry.state = 'acked';
            refusedSince = undefined;
          },
          (error: unknown) => {
            entry.state = 'failed';
            failing = true;
            if (isRefusal(error)) {
              refusedSince ??= performance.now();
              refusal = error;
            }
          },
        )
        .finally(() => {
          inFlight--;
          poke();
        });
    };
    for (;;) {
      while (queue[0]?.state === 'acked') {
        lastAcked = (queue.shift() as Entry).id;
        this.#stats.forwarded++;
      }
      if (this.#stop.signal.aborted) {
        this.#stats.notForwarded += queue.length; // stop()'s drain ran out of time
        return;
      }
      if (this.#draining) ended = true;
      if (failing) {
        if (inFlight > 0) {
          await woken();
          continue;
        }
        if (this.#nc.isClosed() || (refusedSince !== undefined && performance.now() - refusedSince >= failAfterMs)) {
          this.#stats.notForwarded += queue.length;
          throw bridgeRefused(this.subject, this.#sub.name, failAfterMs, this.#nc.isClosed() ? undefined : refusal);
        }
        await sleep(backoffMs, this.#stop.signal);
        if (this.#stop.signal.aborted) continue; // stop()'s drain ran out meanwhile: send nothing more
        backoffMs = Math.min(backoffMs * 2, 1000);
        failing = false;
        let expect = lastAcked;
        for (const entry of queue) {
          if (entry.state !== 'acked') {
            this.#stats.retried++;
            send(entry, expect);
          }
          expect = entry.id;
        }
        continue;
      }
      if (ended) {
        if (queue.length === 0) return;
        await woken();
        continue;
      }
      if (queue.length >= WINDOW) {
        await woken();
        continue;
      }
      let step = reading ? undefined : this.#sub.tryNext();
      if (!step) {
        reading ??= this.#sub.next();
        const first = await Promise.race([reading, queue.length > 0 ? woken() : reading]);
        if (first === undefined) continue; // an acknowledgement came first
        step = first;
        reading = undefined;
      }
      if (step.done) {
        ended = true;
        continue;
      }
      if (queue.length === 0 && !failing) backoffMs = 50;
      // The message's ID names it by its place in the topic: a restarted bridge finds where to resume.
      const seq = ((this.#sub.nextSeq as number) - 1) >>> 0;
      const entry: Entry = { id: `${this.#topicId}:${seq}`, bytes: this.#encode(step.value), state: 'sent' };
      const expect = queue.length > 0 ? queue[queue.length - 1]?.id : lastAcked;
      queue.push(entry);
      send(entry, expect);
    }
  }

  #encode(value: unknown): Uint8Array {
    return this.#codec.encode(value, this.#sub.name, this.#owner);
  }
}

/**
 * Whether a failed JetStream publish was refused (the stream or the client
 * will refuse it again: a message above max_payload, a full stream that
 * discards new ones) rather than lost (a timeout, a lost connection: a server
 * restart) or refused only because one before it was ("wrong last msg ID").
 */
function isRefusal(error: unknown): boolean {
  const { code, api_error: api } = error as { code?: string; api_error?: { err_code?: number } };
  if (code === 'MAX_PAYLOAD_EXCEEDED') return true;
  return api !== undefined && api.err_code !== WRONG_LAST_MSG_ID;
}

/** A topic's identity: its publisher's pid and creation time (ms); undefined if there is no such topic. */
function topicIdentity(name: string): string | undefined {
  const info = Topic.stat(name);
  return info ? `${info.pid}.${info.createdAt.getTime()}` : undefined;
}

/** The topic identity and sequence number of a message ID this bridge wrote (`<topic>:<seq>`). */
function parseMsgId(id: string | undefined): { topic: string; seq: number } | undefined {
  const colon = id?.lastIndexOf(':') ?? -1;
  if (id === undefined || colon < 0) return undefined;
  const seq = Number(id.slice(colon + 1));
  return Number.isInteger(seq) && seq >= 0 && seq <= 0xffffffff ? { topic: id.slice(0, colon), seq } : undefined;
}

/**
 * The flushes of a core 'out' bridge, one at a time: each one the server
 * answers confirms the publishes sent before it.
 */
class FlushTracker {
  /** Messages published, and those of them a flush confirmed. */
  sent = 0;
  confirmed = 0;
  readonly #nc: NatsConnection;
  #pending: Promise<void> | undefined;
  #startedAt = Number.NEGATIVE_INFINITY;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  /** Starts a flush unless one runs, one started less than FLUSH_EVERY_MS ago or there is nothing to confirm. */
  flush(now = false): void {
    if (this.#pending || this.sent === this.confirmed || this.#nc.isClosed()) return;
    const at = performance.now();
    if (!now && at - this.#startedAt < FLUSH_EVERY_MS) return;
    this.#startedAt = at;
    const upTo = this.sent;
    this.#pending = this.#nc
      .flush()
      .then(
        () => {
          this.confirmed = Math.max(this.confirmed, upTo);
        },
        () => {}, // a disconnect: the next flush goes once the client reconnects
      )
      .finally(() => {
        this.#pending = undefined;
      });
  }

  /** Waits until the server confirmed every publish; false if `signal` aborted first or the connection closed. */
  async drain(signal: AbortSignal): Promise<boolean> {
    while (this.sent !== this.confirmed) {
      if (signal.aborted || this.#nc.isClosed()) return false;
      this.flush(true);
      await Promise.race([this.#pending, aborted(signal)]);
    }
    return true;
  }
}

/** Resolves when `signal` aborts (the bridge's run aborts it when it ends). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
