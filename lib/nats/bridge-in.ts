/**
 * The 'in' direction of bridgeTopic(): NATS messages (a core subscription,
 * or a durable JetStream consumer) published into a local Topic, whose
 * subscribers on this host then share one copy in shared memory.
 */
import type { ConsumerMessages, JetStreamManager, JsMsg, Msg, NatsConnection, NatsError, Subscription } from 'nats';
import type { CodecSpec, ResolvedCodec } from '../structures/codecs.js';
import { Topic, type TopicCreateOptions } from '../structures/topic/topic.js';
import {
  type BridgeStats,
  countReconnects,
  type JetStreamBridgeOptions,
  newStats,
  type TopicBridge,
} from './bridge-types.js';
import { ensureConsumer, ensureStream } from './jetstream.js';
import type { NatsModule } from './load.js';

/** What #tryForward() returns when the topic has no room now. */
const FULL = 'full';

/** How long a message that came ahead of a missing one waits before it is delivered again, in ms. */
const REORDER_DELAY_MS = 100;

interface Source {
  /** Core NATS: the subscription, and who takes its messages (the bridge, once it runs). */
  sub?: Subscription;
  onMessage?: (error: NatsError | null, msg: Msg) => void;
  early?: Msg[];
  /** JetStream: the consumer's messages, and where the bridge stands in the stream. */
  messages?: ConsumerMessages;
  /** The stream sequence of the last message forwarded (or before the first to forward). */
  last?: number;
  /**
   * The stream holds only this subject: a gap in its sequence numbers is a
   * message still to come, unless the stream no longer has it.
   */
  contiguous?: boolean;
  /** JetStream: the stream's manager and name, to look for the messages it dropped. */
  jsm?: JetStreamManager;
  stream?: string;
  /** Messages the stream dropped (limits, deletion) after the consumer's ack floor, before this bridge started. */
  lostAtStart?: number;
}

export class BridgeIn implements TopicBridge {
  readonly direction = 'in' as const;
  readonly subject: string;
  readonly done: Promise<void>;
  readonly #topic: Topic<unknown>;
  readonly #owned: boolean;
  readonly #codec: ResolvedCodec<unknown>;
  readonly #stop = new AbortController();
  readonly #stats = newStats();
  readonly #source: Source;
  /** Who decodes, for the errors of the codec. */
  readonly #owner: string;

  static async start(
    topic: string | Topic<unknown>,
    nc: NatsConnection,
    nats: NatsModule,
    opts: {
      subject: string;
      codec: ResolvedCodec<unknown>;
      codecSpec: CodecSpec<unknown>;
      js: JetStreamBridgeOptions | undefined;
      topicOptions: Omit<TopicCreateOptions<unknown>, 'codec'> | undefined;
    },
  ): Promise<BridgeIn> {
    const source = opts.js ? await jetStreamSource(nc, nats, opts.subject, opts.js) : coreSource(nc, opts.subject);
    let local: Topic<unknown>;
    try {
      local = typeof topic === 'string' ? Topic.create(topic, { ...opts.topicOptions, codec: opts.codecSpec }) : topic;
    } catch (error) {
      source.sub?.unsubscribe();
      source.messages?.stop();
      throw error;
    }
    return new BridgeIn(nc, local, typeof topic === 'string', source, opts.subject, opts.codec);
  }

  private constructor(
    nc: NatsConnection,
    topic: Topic<unknown>,
    owned: boolean,
    source: Source,
    subject: string,
    codec: ResolvedCodec<unknown>,
  ) {
    this.#topic = topic;
    this.#owned = owned;
    this.#source = source;
    this.subject = subject;
    this.#codec = codec;
    this.#owner = `the bridge of topic '${topic.name}'`;
    countReconnects(nc, this.#stats, this.#stop.signal);
    this.done = this.#run();
    this.done.catch(() => {});
  }

  stats(): BridgeStats {
    return { ...this.#stats };
  }

  async stop(): Promise<void> {
    if (!this.#stop.signal.aborted) {
      this.#stop.abort();
      this.#source.sub?.unsubscribe();
      this.#source.messages?.stop();
    }
    await this.done.catch(() => {});
  }

  async #run(): Promise<void> {
    try {
      if (this.#source.sub) await this.#runCore(this.#source.sub);
      else await this.#runJetStream(this.#source.messages as ConsumerMessages);
    } catch (error) {
      if (!this.#stop.signal.aborted) throw error;
    } finally {
      this.#stop.abort();
      this.#source.sub?.unsubscribe();
      this.#source.messages?.stop();
      if (this.#owned) this.#topic.close();
    }
  }

  /**
   * Core NATS: each message is published into the topic from the
   * subscription's callback, at once, while the topic has room; when it has
   * none (a slow subscriber under 'block') messages queue here in order and
   * go in as room comes (core NATS has no backpressure). Ends when the
   * subscription does (stop(), a closed connection).
   */
  async #runCore(sub: Subscription): Promise<void> {
    const stats = this.#stats;
    const waiting: Uint8Array[] = [];
    let failure: { error: unknown } | undefined;
    let draining = false;
    const fail = (error: unknown) => {
      failure ??= { error };
      sub.unsubscribe();
    };
    const drain = async () => {
      draining = true;
      try {
        while (waiting.length > 0 && !this.#stop.signal.aborted) {
          if (await this.#forward(waiting[0] as Uint8Array)) stats.forwarded++;
          else if (!this.#stop.signal.aborted) stats.notForwarded++;
          else break; // stopped while it waited for room: counted below
          waiting.shift();
        }
      } catch (error) {
        fail(error);
      } finally {
        draining = false;
      }
    };
    const take = (error: NatsError | null, msg: Msg) => {
      if (error) return fail(error);
      try {
        if (waiting.length === 0) {
          const result = this.#tryForward(msg.data);
          if (result === FULL) waiting.push(msg.data);
          else if (result) stats.forwarded++;
          else stats.notForwarded++;
        } else waiting.push(msg.data);
        if (waiting.length > 0 && !draining) void drain();
      } catch (error) {
        fail(error);
      }
    };
    this.#source.onMessage = take;
    for (const early of this.#source.early?.splice(0) ?? []) take(null, early);
    await sub.closed;
    stats.notForwarded += waiting.length;
    if (failure) throw failure.error;
  }

  /**
   * In stream order, each message once: one already forwarded (delivered
   * again after a lost acknowledgement) is acknowledged and skipped; one that
   * comes ahead of a missing one (lost on the wire in a restart, delivered
   * again only after the consumer's ack wait) is put back for later.
   */
  async #runJetStream(messages: ConsumerMessages): Promise<void> {
    const source = this.#source;
    let last = source.last ?? 0;
    this.#stats.lost += source.lostAtStart ?? 0;
    let checked = { last: -1, at: 0 };
    for await (const msg of messages as AsyncIterable<JsMsg>) {
      if (this.#stop.signal.aborted) break;
      const seq = msg.seq;
      if (seq <= last) {
        msg.ack();
        this.#stats.retried++;
        continue;
      }
      if (source.contiguous && seq !== last + 1) {
        // Ahead of a missing one: gone from the stream (skip it, counted), or still to come (wait).
        // The stream is asked at most once per REORDER_DELAY_MS for the same gap.
        const now = performance.now();
        if (checked.last !== last || now - checked.at >= REORDER_DELAY_MS) {
          checked = { last, at: now };
          last = await this.#skipGone(last, seq);
          if (this.#stop.signal.aborted) break;
        }
        if (seq !== last + 1) {
          msg.nak(REORDER_DELAY_MS);
          this.#stats.reordered++;
          continue;
        }
      }
      if (await this.#forward(msg.data)) this.#stats.forwarded++;
      else this.#stats.notForwarded++;
      if (this.#stop.signal.aborted) break; // not forwarded: let it come again after a restart
      last = seq;
      msg.ack();
    }
  }

  /**
   * The messages after `last` (up to `seq`, the one that came) that the
   * stream no longer has — before its first sequence number (its limits
   * dropped them) or deleted — are lost: counted in `lost`, skipped. Returns
   * the new `last` (unchanged when the stream cannot be asked now, e.g. in a
   * server restart: the bridge waits and asks again).
   */
  async #skipGone(last: number, seq: number): Promise<number> {
    const { jsm, stream } = this.#source;
    if (!jsm || !stream) return last;
    let state: { first_seq: number; deleted?: number[] };
    try {
      ({ state } = await jsm.streams.info(stream, { deleted_details: true }));
    } catch {
      return last;
    }
    let next = last + 1;
    if (state.first_seq > next) {
      const to = Math.min(state.first_seq, seq);
      this.#stats.lost += to - next;
      next = to;
    }
    const deleted = new Set(state.deleted ?? []);
    while (next < seq && deleted.has(next)) {
      this.#stats.lost++;
      next++;
    }
    return next - 1;
  }

  /**
   * Publishes one message's value into the topic if it has room now: true;
   * FULL if it has none; false if the bytes are not the codec's.
   * @throws what tryPublish() throws (the topic was closed under the bridge).
   */
  #tryForward(bytes: Uint8Array): boolean | typeof FULL {
    let value: unknown;
    try {
      value = this.#codec.decode(bytes, this.#topic.name, this.#owner);
    } catch {
      return false; // not this codec's bytes
    }
    return this.#topic.tryPublish(value) || FULL;
  }

  /** Publishes one message's value into the topic (waiting for room under 'block'); false if it could not. */
  async #forward(bytes: Uint8Array): Promise<boolean> {
    let value: unknown;
    try {
      value = this.#codec.decode(bytes, this.#topic.name, this.#owner);
    } catch {
      return false; // not this codec's bytes
    }
    try {
      if (!this.#topic.tryPublish(value)) await this.#topic.publish(value, { signal: this.#stop.signal });
      return true;
    } catch (error) {
      if (this.#stop.signal.aborted) return false;
      throw error; // the topic was closed under the bridge: nothing more can go in
    }
  }
}

/** A core subscription whose messages go to `source.onMessage` (kept in `early` until the bridge runs). */
function coreSource(nc: NatsConnection, subject: string): Source {
  const source: Source = { early: [] };
  source.sub = nc.subscribe(subject, {
    callback: (error, msg) => {
      if (source.onMessage) source.onMessage(error, msg);
      else if (!error) source.early?.push(msg);
    },
  });
  return source;
}

async function jetStreamSource(
  nc: NatsConnection,
  nats: NatsModule,
  subject: string,
  js: JetStreamBridgeOptions,
): Promise<Source> {
  const stream = await ensureStream(nc, nats, js.stream, subject);
  const { info: consumer, created } = await ensureConsumer(nc, nats, js.stream, js.durable, subject, js.ackWaitMs);
  const subjects = stream.config.subjects ?? [];
  const contiguous = subjects.length === 1 && subjects[0] === subject;
  const floor = consumer.ack_floor.stream_seq;
  const last = Math.max(floor, stream.state.first_seq - 1);
  // A consumer that was there already had to read what the stream dropped since: lost.
  const lostAtStart = !created && contiguous ? last - floor : 0;
  const messages = await (await nc.jetstream().consumers.get(js.stream, js.durable)).consume({ max_messages: 512 });
  return { messages, last, contiguous, jsm: await nc.jetstreamManager(), stream: js.stream, lostAtStart };
}
