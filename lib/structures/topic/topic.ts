/**
 * A topic's publisher: `Topic.create()`; subscribers come from
 * `Topic.subscribe()` (./subscriber.ts). One shared log per topic, each
 * message written once whatever the number of subscribers (docs/topics.md).
 */
import { deadlineOf } from '../../core/deadline.js';
import { codedError, useAfterClose } from '../../core/errors.js';
import { NAME_MAX, posixName } from '../../core/names.js';
import { parseWaitOptions, parseWaitSyncOptions, type WaitOptions, type WaitSyncOptions } from '../../core/pending.js';
import { processStartTicks } from '../../core/processes.js';
import { validateInteger, validateMode, validateOptions, valueError } from '../../core/validate.js';
import { ProcessWatch } from '../../primitives/process-watch.js';
import { SharedMemory } from '../../primitives/shm.js';
import { type CodecSpec, type ResolvedCodec, resolveCodec } from '../codecs.js';
import { Parker, type WaitSide } from '../ring/park.js';
import { wakeSleepers } from '../wait-word.js';
import { notRaw, outOfOrder, tooLarge } from './errors.js';
import {
  MAX_CAPACITY,
  MAX_EVICT_AFTER_MS,
  MAX_HISTORY,
  MAX_SUBSCRIBERS,
  MIN_CAPACITY,
  OFFSET,
  POLICIES,
  SLOT_STATE,
  type SlowSubscriberPolicy,
  word,
} from './format.js';
import { isSameProcess, TopicHeader } from './header.js';
import { listTopics, readTopicInfo, type TopicInfo } from './info.js';
import { LogWriter, NO_ROOM } from './log-writer.js';
import { Subscriber, type TopicSubscribeOptions } from './subscriber.js';

/** Options of {@link Topic.create}. */
export interface TopicCreateOptions<T> {
  /** How values become bytes (default 'msgpack'); subscribers must use the same. */
  codec?: CodecSpec<T>;
  /** Bytes of the shared log, a power of two in [256, 2^30] (default 1 MiB). A message takes at most capacityBytes - 8. */
  capacityBytes?: number;
  /** Subscribers at once, in [1, 1024] (default 16); one more fails with `ERR_SHMKIT_TOPIC_FULL`. */
  maxSubscribers?: number;
  /** Messages a subscriber with `from: 'history'` gets first, in [0, 65536] (default 0), if still in the log. */
  historyMessages?: number;
  /**
   * What the publisher does when the log is full of messages a subscriber
   * has not read: 'block' (default) waits for it; 'drop-oldest' never waits
   * and overwrites them (the subscriber is told how many it skipped:
   * 'lagged'); 'evict' waits up to evictAfterMs, then evicts it.
   */
  slowSubscriber?: SlowSubscriberPolicy;
  /** 'evict': how long a subscriber may hold the publisher back, in ms (default 1000). */
  evictAfterMs?: number;
  /** Permission bits of the shm object (default 0o600). */
  mode?: number;
  /** How long a blocked publish spins before it sleeps, in µs (default 10). */
  spinUs?: number;
}

/** What {@link Topic.stats} returns: the counters of the shared header. */
export interface TopicStats {
  /** Messages published. */
  published: number;
  /** Payload bytes published. */
  publishedBytes: number;
  /** Messages gone from the log (overwritten), read or not. */
  overwritten: number;
  /** Times the publisher slept waiting for a slow subscriber. */
  parks: number;
  /** Wakes the publisher sent sleeping subscribers (at most one per publish). */
  wakes: number;
  /** Subscribers evicted ('evict'). */
  evicted: number;
  /** Subscribers now. */
  subscribers: number;
}

/** Sync waits look for dead subscribers this often (an async wait learns it at once). */
const SYNC_SLICE_MS = 50;
const DEFAULT_CAPACITY = 1 << 20;
const PUBLISHER_WORD = word(OFFSET.publisherWord);
const DATA_WORD = word(OFFSET.dataWord);

/**
 * Publish/subscribe between processes: one publisher, many subscribers, each
 * of which sees every message (or, under 'drop-oldest', is told exactly how
 * many it missed). Built on POSIX shared memory (shm_overview(7)) and
 * futex(2): a message is encoded and copied once into a shared log; sleeping
 * subscribers park on one futex word, so a publish costs at most one
 * FUTEX_WAKE however many sleep. Each side learns of the other's death from
 * a process descriptor (pidfd_open(2), through ProcessWatch).
 *
 * ```ts
 * const ticks = Topic.create('/ticks', { historyMessages: 8 });
 * ticks.tryPublish({ price: 1 });
 * const sub = Topic.subscribe('/ticks', { from: 'history' });
 * for await (const tick of sub) {}
 * ```
 *
 * Errors, by `code`: `EEXIST` (create: a live publisher has the name),
 * `ENOENT` (subscribe: no such topic), `ERR_SHMKIT_BAD_TOPIC` (not a topic
 * of this format), `ERR_SHMKIT_TOPIC_FULL` (maxSubscribers reached),
 * `ERR_SHMKIT_CODEC_MISMATCH`, `ETIMEDOUT` (timeoutMs, in ms), `ABORT_ERR`,
 * `ERR_OUT_OF_RANGE` (a message larger than maxMessageBytes),
 * `ERR_SHMKIT_ENCODE`, `ERR_SHMKIT_TOPIC_CORRUPT`, `ERR_SHMKIT_CLOSED`.
 */
export class Topic<T = unknown> implements Disposable {
  /** The topic's name (its shm object). */
  readonly name: string;
  /** Names this object in codec errors (made once: a template string per message showed in profiles). */
  readonly #owner: string;
  /** Bytes of the shared log. */
  readonly capacityBytes: number;
  /** The largest encoded message it takes: capacityBytes - 8. */
  readonly maxMessageBytes: number;
  readonly maxSubscribers: number;
  readonly historyMessages: number;
  readonly slowSubscriber: SlowSubscriberPolicy;
  readonly #header: TopicHeader;
  readonly #codec: ResolvedCodec<T>;
  readonly #writer: LogWriter;
  readonly #bytes: Uint8Array;
  readonly #parker: Parker;
  /** Watched subscriber processes, by slot: their death frees the slot at once. */
  readonly #watches = new Map<number, { generation: number; watch: ProcessWatch }>();
  /** The record claim() reserved, until commit(). */
  #claim: { offset: number; length: number } | undefined;
  #closed = false;

  private constructor(header: TopicHeader, codec: ResolvedCodec<T>, spinUs: number) {
    this.name = header.name;
    this.#owner = `Topic '${header.name}'`;
    this.#header = header;
    this.#codec = codec;
    this.capacityBytes = header.limits.capacity;
    this.maxSubscribers = header.limits.maxSubscribers;
    this.historyMessages = header.limits.historyMessages;
    this.slowSubscriber = header.limits.policy;
    this.#parker = new Parker(header.shm.buffer, spinUs, header.name);
    this.#writer = new LogWriter(header, () => this.#parker.wake(DATA_WORD, OFFSET.dataWakes));
    this.maxMessageBytes = this.#writer.maxMessageBytes;
    this.#bytes = new Uint8Array(header.shm.buffer);
  }

  /**
   * Creates topic `name` (shm_open(3) O_EXCL) with this process as its
   * publisher. A topic left by a publisher that died (or closed) is replaced.
   * @throws `EEXIST` when a live publisher has the name or it holds something
   * else; TypeError/RangeError naming a bad option.
   */
  static create<T = unknown>(name: string, options?: TopicCreateOptions<T>): Topic<T> {
    name = topicName(name);
    const opts = validateOptions(options);
    const codec = resolveCodec<T>(opts.codec ?? 'msgpack');
    const limits = {
      capacity: capacityOf(opts.capacityBytes),
      maxSubscribers: optional(opts.maxSubscribers, 'options.maxSubscribers', 1, MAX_SUBSCRIBERS, 16),
      historyMessages: optional(opts.historyMessages, 'options.historyMessages', 0, MAX_HISTORY, 0),
      policy: policyOf(opts.slowSubscriber),
      evictAfterMs: optional(opts.evictAfterMs, 'options.evictAfterMs', 0, MAX_EVICT_AFTER_MS, 1000),
      codec: codec.fingerprint,
    };
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const spinUs = optional(opts.spinUs, 'options.spinUs', 0, 1_000_000, 10);
    replaceStale(name);
    return new Topic<T>(TopicHeader.create(name, limits, mode, processStartTicks('self') ?? 0), codec, spinUs);
  }

  /** Subscribes to topic `name`: see {@link Subscriber} and {@link TopicSubscribeOptions}. */
  static subscribe<T = unknown>(name: string, options?: TopicSubscribeOptions<T>): Subscriber<T> {
    return Subscriber.join<T>(topicName(name), options);
  }

  /** The topics in /dev/shm this process can read, with their publisher's liveness and subscribers. */
  static list(): TopicInfo[] {
    return listTopics();
  }

  /** One topic as {@link Topic.list} shows it, with each subscriber; undefined if `name` is no topic. */
  static stat(name: string): TopicInfo | undefined {
    return readTopicInfo(topicName(name));
  }

  /** Removes topic `name` (shm_unlink(3)): for a topic whose publisher died. @throws `ENOENT` */
  static unlink(name: string): void {
    SharedMemory.unlink(topicName(name));
  }

  /**
   * Publishes `value` if the log has room now: always under 'drop-oldest';
   * under 'block' and 'evict' only if the slowest subscriber has left room
   * (false otherwise). Never waits.
   */
  tryPublish(value: T): boolean {
    return this.#tryWrite(this.#encode(value));
  }

  /**
   * Publishes `value`, blocking this thread while the slowest subscriber
   * leaves no room ('block'; under 'evict' at most evictAfterMs before
   * evicting it). A subscriber that dies is noticed within 50 ms here.
   * @throws `ETIMEDOUT` after `options.timeoutMs` ms.
   */
  publishSync(value: T, options?: WaitSyncOptions): void {
    const timeoutMs = parseWaitSyncOptions(options);
    const bytes = this.#encode(value);
    if (this.#tryWrite(bytes)) return;
    const deadline = deadlineOf(timeoutMs);
    const holding = new Map<number, number>();
    for (;;) {
      this.#unblock(bytes.length, holding);
      if (this.#tryWrite(bytes)) return;
      const until = Math.min(deadline, this.#sliceEnd(holding, SYNC_SLICE_MS));
      this.#sliced(deadline, () =>
        this.#parker.waitSync(this.#side(bytes.length), until, timeoutMs < 0 ? undefined : timeoutMs),
      );
    }
  }

  /**
   * Like {@link publishSync} without blocking the event loop: a subscriber's
   * death wakes it at once (its process watch frees the slot).
   * @throws (rejects) `ETIMEDOUT` after `options.timeoutMs` ms; an AbortError on `options.signal`.
   */
  async publish(value: T, options?: WaitOptions): Promise<void> {
    const opts = parseWaitOptions(options);
    const bytes = this.#encode(value);
    if (this.#tryWrite(bytes)) return;
    const deadline = deadlineOf(opts.timeoutMs ?? -1);
    const holding = new Map<number, number>();
    for (;;) {
      this.#unblock(bytes.length, holding);
      if (this.#tryWrite(bytes)) return;
      const until = Math.min(deadline, this.#sliceEnd(holding, Number.POSITIVE_INFINITY));
      try {
        await this.#parker.wait(this.#side(bytes.length), until, { ...opts });
      } catch (error) {
        if (!isTimeout(error) || performance.now() >= deadline) throw error;
      }
    }
  }

  /**
   * Zero-copy publish (codec 'raw'): reserves a record of `length` bytes in
   * the shared log and returns a writable view of it, or undefined when a
   * subscriber leaves no room now ('block', 'evict'). Fill it, then commit().
   * @throws `ERR_SHMKIT_NOT_RAW` on a topic of another codec;
   * `ERR_SHMKIT_CLAIM_PENDING` before the last claim was committed; RangeError
   * for a length above maxMessageBytes.
   */
  claim(length: number): Uint8Array | undefined {
    this.#live();
    if (this.#codec.kind !== 'raw') throw notRaw(this.name, 'claim()');
    if (this.#claim) throw outOfOrder('ERR_SHMKIT_CLAIM_PENDING');
    validateInteger(length, 'length', 0, this.maxMessageBytes);
    const offset = this.#writer.reserve(length);
    if (offset === NO_ROOM) return undefined;
    this.#claim = { offset, length };
    return this.#bytes.subarray(this.#writer.payloadStart(offset), this.#writer.payloadStart(offset) + length);
  }

  /**
   * Publishes the claimed record, optionally shortened to its first `length` bytes.
   * @throws `ERR_SHMKIT_NO_CLAIM` without a pending claim().
   */
  commit(length?: number): void {
    this.#live();
    const claim = this.#claim;
    if (!claim) throw outOfOrder('ERR_SHMKIT_NO_CLAIM');
    const used = length === undefined ? claim.length : validateInteger(length, 'length', 0, claim.length);
    this.#claim = undefined;
    this.#writer.write(claim.offset, used);
    this.#writer.commit();
    if (this.#writer.joined) this.#watchSubscribers();
  }

  /** The counters of the shared header. */
  stats(): TopicStats {
    this.#live();
    const h = this.#header;
    let subscribers = 0;
    for (let slot = 0; slot < this.maxSubscribers; slot++) if (h.slot(slot).state === SLOT_STATE.active) subscribers++;
    return {
      published: h.counter(OFFSET.published),
      publishedBytes: h.counter(OFFSET.publishedBytes),
      overwritten: h.counter(OFFSET.overwritten),
      parks: h.counter(OFFSET.publisherParks),
      wakes: h.counter(OFFSET.dataWakes),
      evicted: h.counter(OFFSET.evicted),
      subscribers,
    };
  }

  /**
   * Closes the topic: subscribers still read every message published before,
   * then their loops end; the name is removed (shm_unlink(3)), so no one
   * subscribes any more. Pending publishes reject with `ERR_SHMKIT_CLOSED`. Safe twice.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#header.markClosed();
    try {
      SharedMemory.unlink(this.name);
    } catch {
      // removed already (shmkit rm)
    }
    for (const { watch } of this.#watches.values()) watch.close();
    this.#watches.clear();
    this.#header.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #encode(value: T): Uint8Array {
    this.#live();
    const bytes = this.#codec.encode(value, this.name, this.#owner);
    if (bytes.length > this.maxMessageBytes) throw tooLarge(this.name, bytes.length, this.maxMessageBytes);
    return bytes;
  }

  /** Writes one record if there is room; false if a subscriber holds the publisher back. */
  #tryWrite(bytes: Uint8Array): boolean {
    this.#live();
    if (this.#claim) throw outOfOrder('ERR_SHMKIT_CLAIM_PENDING');
    const writer = this.#writer;
    const offset = writer.reserve(bytes.length);
    if (offset === NO_ROOM) return false;
    this.#bytes.set(bytes, writer.payloadStart(offset));
    writer.write(offset, bytes.length);
    writer.commit();
    if (writer.joined) this.#watchSubscribers();
    return true;
  }

  /** What a blocked publisher waits for: room for a record of `length` bytes. */
  #side(length: number): WaitSide {
    return {
      ready: () => this.#closed || this.#writer.fits(length),
      lock: undefined,
      word: PUBLISHER_WORD,
      parks: OFFSET.publisherParks,
    };
  }

  /**
   * What a blocked publisher does before it sleeps: watch new subscribers,
   * free the slots of the dead ones that hold it back, and under 'evict'
   * evict each one that has held it back for evictAfterMs during this
   * publish (`holding`: slot → when it was first seen holding it back, ms on performance.now()).
   */
  #unblock(length: number, holding: Map<number, number>): void {
    this.#live();
    this.#watchSubscribers();
    const now = performance.now();
    const holders = new Set(this.#writer.holdingBack(length));
    for (const slot of holding.keys()) if (!holders.has(slot)) holding.delete(slot);
    for (const slot of holders) {
      const since = holding.get(slot) ?? now;
      holding.set(slot, since);
      const watched = this.#watches.get(slot);
      if (watched?.watch.exited) this.#free(slot, watched.generation);
      else if (this.slowSubscriber === 'evict' && now - since >= this.#header.limits.evictAfterMs) this.#evict(slot);
    }
  }

  /** When the current sleep ends: the first eviction due under 'evict', else `slice` ms from now. */
  #sliceEnd(holding: Map<number, number>, slice: number): number {
    const now = performance.now();
    if (this.slowSubscriber !== 'evict' || holding.size === 0) return now + slice;
    const due = Math.min(...holding.values()) + this.#header.limits.evictAfterMs;
    return Math.max(due, now + 1);
  }

  /** Runs one sliced wait: an ETIMEDOUT before the real deadline only ends the slice. */
  #sliced(deadline: number, wait: () => void): void {
    try {
      wait();
    } catch (error) {
      if (isTimeout(error) && performance.now() < deadline) return;
      throw error;
    }
  }

  /** Opens a process watch on each active subscriber not watched yet; its death frees its slot at once. */
  #watchSubscribers(): void {
    this.#writer.joined = false;
    for (let slot = 0; slot < this.maxSubscribers; slot++) {
      const at = this.#header.slot(slot);
      const watched = this.#watches.get(slot);
      if (watched?.generation === at.generation) continue;
      watched?.watch.close();
      this.#watches.delete(slot);
      if (at.state !== SLOT_STATE.active && at.state !== SLOT_STATE.evicted) continue;
      if (!isSameProcess(at.pid, at.startTicks)) {
        this.#free(slot, at.generation);
        continue;
      }
      let watch: ProcessWatch;
      try {
        watch = ProcessWatch.open(at.pid, at.startTicks > 0 ? { startTicks: at.startTicks } : {});
      } catch {
        this.#free(slot, at.generation); // a start time no process has: a slot a peer wrote over
        continue;
      }
      this.#watches.set(slot, { generation: at.generation, watch });
      watch.exit().then(
        () => this.#free(slot, at.generation),
        () => {}, // closed with the topic, or the slot was reused
      );
    }
  }

  /** Frees a dead subscriber's slot and wakes this publisher if it waits for room. */
  #free(slot: number, generation: number): void {
    const watched = this.#watches.get(slot);
    if (watched?.generation === generation) {
      watched.watch.close();
      this.#watches.delete(slot);
    }
    if (this.#closed) return;
    if (this.#header.freeSlot(slot, generation)) this.#header.forceWake(PUBLISHER_WORD);
  }

  /** 'evict': the subscriber of `slot` held the publisher back too long; its next read fails. */
  #evict(slot: number): void {
    const { generation } = this.#header.slot(slot);
    if (this.#header.moveSlot(slot, generation, SLOT_STATE.active, SLOT_STATE.evicted)) {
      this.#header.count(OFFSET.evicted);
      wakeSleepers(this.#header.i32, DATA_WORD); // it may sleep: let it find out
    }
  }

  #live(): void {
    if (this.#closed) throw useAfterClose(`Topic '${this.name}'`);
  }
}

function isTimeout(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === 'ETIMEDOUT';
}

/** A topic's name: a POSIX shm name ('/ticks'). */
function topicName(value: unknown): string {
  return posixName(value, 'name', NAME_MAX);
}

function optional(value: unknown, name: string, min: number, max: number, fallback: number): number {
  return value === undefined ? fallback : validateInteger(value, name, min, max);
}

function capacityOf(value: unknown): number {
  if (value === undefined) return DEFAULT_CAPACITY;
  const bytes = validateInteger(value, 'options.capacityBytes', MIN_CAPACITY, MAX_CAPACITY);
  if ((bytes & (bytes - 1)) !== 0) throw valueError('options.capacityBytes', 'must be a power of two', bytes);
  return bytes;
}

function policyOf(value: unknown): SlowSubscriberPolicy {
  if (value === undefined) return 'block';
  if (!POLICIES.includes(value as SlowSubscriberPolicy))
    throw valueError('options.slowSubscriber', "must be 'block', 'drop-oldest' or 'evict'", value);
  return value as SlowSubscriberPolicy;
}

/**
 * If `name` holds a topic whose publisher died or closed it, removes it so
 * that create() can take the name; anything else is left for create() to
 * refuse (`EEXIST`).
 */
function replaceStale(name: string): void {
  let header: TopicHeader;
  try {
    header = TopicHeader.open(name);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') return;
    if (code === 'ERR_SHMKIT_BAD_TOPIC') throw codedError('EEXIST', `'${name}' exists and is not a usable topic`);
    throw error;
  }
  try {
    if (header.publisherAlive())
      throw codedError('EEXIST', `topic '${name}' has a live publisher (pid ${header.publisher.pid})`);
  } finally {
    header.close();
  }
  SharedMemory.unlink(name);
}
