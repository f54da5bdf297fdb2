/**
 * One subscriber of a topic: its slot, its cursor in the shared log, and its
 * waits. Every subscriber of a topic parks on the same wait word, so the
 * publisher wakes them all with one futex wake.
 */
import { EventEmitter } from 'node:events';
import { deadlineOf } from '../../core/deadline.js';
import { useAfterClose } from '../../core/errors.js';
import { abortError, parseWaitOptions, type WaitOptions } from '../../core/pending.js';
import { processStartTicks } from '../../core/processes.js';
import { validateAbortSignal, validateOptions, valueError } from '../../core/validate.js';
import { ProcessWatch } from '../../primitives/process-watch.js';
import { BUILTIN_CODEC_FINGERPRINTS, type CodecSpec, type ResolvedCodec, resolveCodec } from '../codecs.js';
import { Parker, type WaitSide } from '../ring/park.js';
import { wakeSleepers } from '../wait-word.js';
import { codecMismatch, corruptTopic, notRaw, outOfOrder, slowConsumer, topicFull } from './errors.js';
import { FRAME_ALIGN, frameBytes, OFFSET, SLOT, SLOT_STATE, STATE, WRAP_MARKER, word } from './format.js';
import { TopicHeader } from './header.js';
import { LogReader, type ReadResult } from './log-reader.js';

/** Options of {@link Topic.subscribe}. */
export interface TopicSubscribeOptions<T> {
  /** The topic's codec (default 'msgpack'); another one fails with `ERR_SHMKIT_CODEC_MISMATCH`. */
  codec?: CodecSpec<T>;
  /**
   * 'now' (default): the messages published from now on; 'history': first
   * the last `historyMessages` the topic keeps (those still in its log);
   * `{ seq }`: from the message of sequence number `seq` (u32, see
   * {@link Subscriber.nextSeq}) if the log still holds it, else from the
   * oldest one it holds, the first read emitting 'lagged' with how many
   * of those from `seq` on are gone (a `seq` not published yet: 'now').
   */
  from?: 'now' | 'history' | { seq: number };
  /** Ends the subscription: the subscriber closes, and a pending or later next() rejects with an AbortError. */
  signal?: AbortSignal;
  /** How long a waiting next() spins before it sleeps, in µs (default 10). */
  spinUs?: number;
}

/** What {@link Subscriber.stats} returns (also in the topic's shared slot table). */
export interface SubscriberStats {
  /** The subscriber's slot in the topic's table. */
  slot: number;
  /** Messages it read. */
  delivered: number;
  /** Messages it skipped: overwritten before it read them ('drop-oldest'). */
  lagged: number;
  /** Times it was lapped (each one a 'lagged' event). */
  lagEvents: number;
  /** Times it slept waiting for a message. */
  parks: number;
  /** Bytes of the log published and not read yet by it. */
  behindBytes: number;
}

const DEFAULT_SPIN_US = 10;
const DATA_WORD = word(OFFSET.dataWord);
const PUBLISHER_WORD = word(OFFSET.publisherWord);

/**
 * A subscriber of a {@link Topic}, from `Topic.subscribe(name, options)`.
 * An async iterable (and its own iterator) of the messages published while
 * it is subscribed: `for await (const value of sub)`; the loop ends once the
 * publisher has closed (or died) and every message it published has been
 * read. `next({ timeoutMs, signal })` takes one, `tryNext()` one that is
 * there now. Emits `'lagged'` with the number of messages it skipped when the
 * publisher ('drop-oldest') overwrote them before it read them.
 *
 * Errors, by `code`: `ETIMEDOUT` (next's timeoutMs, in ms),
 * `ABORT_ERR` (an AbortError), `ERR_SHMKIT_SLOW_CONSUMER` once the publisher
 * evicted it ('evict'), `ERR_SHMKIT_TOPIC_CORRUPT` for a log a peer wrote
 * outside the format, `ERR_SHMKIT_DECODE` for a message its codec cannot
 * decode, `ERR_SHMKIT_CLOSED` (tryNext after close).
 */
export class Subscriber<T = unknown> extends EventEmitter implements AsyncIterableIterator<T>, Disposable {
  /** The topic's name. */
  readonly name: string;
  /** Names this object in codec errors (made once: a template string per message showed in profiles). */
  readonly #owner: string;
  /** The subscriber's slot in the topic's table. */
  readonly slot: number;
  readonly #header: TopicHeader;
  readonly #codec: ResolvedCodec<T>;
  readonly #reader: LogReader;
  readonly #parker: Parker;
  readonly #side: WaitSide;
  readonly #generation: number;
  readonly #block: boolean;
  readonly #cursorIndex: number;
  readonly #stateIndex: number;
  readonly #counters: { delivered: number; lagged: number; lagEvents: number };
  readonly #watch: ProcessWatch | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.close();
  #publisherDead = false;
  #closed = false;
  /** The record a peek() returned, until release(). */
  #peeked: ReadResult | undefined;

  private constructor(
    header: TopicHeader,
    codec: ResolvedCodec<T>,
    claim: { slot: number; generation: number },
    start: Start,
    spinUs: number,
    signal: AbortSignal | undefined,
  ) {
    super();
    this.name = header.name;
    this.#owner = `Subscriber of topic '${header.name}'`;
    this.slot = claim.slot;
    this.#header = header;
    this.#codec = codec;
    this.#generation = claim.generation;
    this.#block = header.limits.policy !== 'drop-oldest';
    this.#cursorIndex = header.slotCursorIndex(claim.slot);
    this.#stateIndex = header.slotStateIndex(claim.slot);
    this.#counters = {
      delivered: header.slotCounterIndex(claim.slot, SLOT.delivered),
      lagged: header.slotCounterIndex(claim.slot, SLOT.lagged),
      lagEvents: header.slotCounterIndex(claim.slot, SLOT.lagEvents),
    };
    this.#reader = new LogReader(header, start.cursor, start.expected, start.gap === true);
    this.#parker = new Parker(header.shm.buffer, spinUs, header.name);
    this.#side = {
      ready: () => this.#reader.hasRecord() || this.#ended() || this.#evicted(),
      lock: undefined,
      word: DATA_WORD,
      parks: header.layout.slotsOffset + claim.slot * 64 + SLOT.parks,
    };
    this.#watch = this.#watchPublisher();
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** @internal Topic.subscribe(): opens the topic, claims a slot and takes up its place in the log. */
  static join<T>(name: string, options: TopicSubscribeOptions<T> | undefined): Subscriber<T> {
    const opts = validateOptions(options);
    const codec = resolveCodec<T>(opts.codec ?? 'msgpack');
    const from = fromOf(opts.from);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    if (signal?.aborted) throw abortError(signal);
    const spinUs = opts.spinUs === undefined ? DEFAULT_SPIN_US : validateSpin(opts.spinUs);
    const header = TopicHeader.open(name);
    try {
      if (header.limits.codec !== codec.fingerprint) {
        const found = BUILTIN_CODEC_FINGERPRINTS.get(header.limits.codec) ?? 'another codec';
        throw codecMismatch(name, found, `${codec.description.replace(/^codec:/, "codec '")}'`);
      }
      const self = processStartTicks('self') ?? 0;
      const claim =
        header.claimSlot(process.pid, self) ??
        (header.reclaimDeadSlots() > 0 ? header.claimSlot(process.pid, self) : undefined);
      if (!claim) throw topicFull(name, header.limits.maxSubscribers);
      const take = (): Start =>
        typeof from === 'number'
          ? seqStart(header, from)
          : (from === 'history' && historyStart(header)) || nowStart(header);
      let start = take();
      Atomics.store(header.u32, header.slotCursorIndex(claim.slot), start.cursor);
      header.moveSlot(claim.slot, claim.generation, SLOT_STATE.claimed, SLOT_STATE.active);
      header.announceJoin();
      // Until the publisher has seen the join it does not wait for this cursor: if it wrote over
      // the start meanwhile, take a new one (its next publish holds this slot back).
      for (let attempt = 0; attempt < 64 && !intact(header, start.cursor); attempt++) {
        start = take();
        Atomics.store(header.u32, header.slotCursorIndex(claim.slot), start.cursor);
      }
      return new Subscriber<T>(header, codec, claim, start, spinUs, signal);
    } catch (error) {
      header.close();
      throw error;
    }
  }

  /**
   * The sequence number (u32, counting from 0 in the topic's life) the next
   * message read should have: one past the last one read. Undefined only
   * before the first read of a 'now' subscriber that joined while the
   * publisher never paused.
   */
  get nextSeq(): number | undefined {
    return this.#reader.expected;
  }

  /**
   * The next message if one is there now: `{ value }`, `{ done: true }` once
   * the publisher is gone and every message was read, undefined otherwise.
   * @throws `ERR_SHMKIT_CLOSED` after close(); see the class for the others.
   */
  tryNext(): IteratorResult<T, undefined> | undefined {
    this.#check();
    if (this.#peeked) throw outOfOrder('ERR_SHMKIT_PEEK_PENDING');
    const found = this.#take();
    if (found) return found;
    if (!this.#ended()) return undefined;
    // The publisher stores its last tail before it closes: one more look.
    return this.#take() ?? { done: true, value: undefined };
  }

  /**
   * Resolves with the next message (`{ value }`), waiting for it without
   * blocking the event loop, or `{ done: true }` once the publisher is gone
   * and every message was read, or this subscriber was closed.
   * @throws (rejects) `ETIMEDOUT` after `options.timeoutMs` ms; an AbortError on
   * `options.signal` or the subscription's signal.
   */
  async next(options?: WaitOptions): Promise<IteratorResult<T, undefined>> {
    const opts = parseWaitOptions(options);
    const deadline = deadlineOf(opts.timeoutMs ?? -1);
    // The subscription's signal closes the subscriber, which ends a pending wait (see the catch).
    const signal = opts.signal;
    for (;;) {
      if (this.#signal?.aborted) throw abortError(this.#signal);
      if (this.#closed) return { done: true, value: undefined };
      const found = this.tryNext();
      if (found) return found;
      try {
        await this.#parker.wait(this.#side, deadline, { timeoutMs: opts.timeoutMs, signal, ref: opts.ref });
      } catch (error) {
        if (this.#signal?.aborted) throw abortError(this.#signal);
        if (this.#closed && (error as { code?: string }).code === 'ERR_SHMKIT_CLOSED')
          return { done: true, value: undefined };
        throw error;
      }
    }
  }

  /**
   * Zero-copy read (codec 'raw'): a view into the shared log of the next
   * message, or undefined if none is there now. Nothing is copied; the view
   * is valid until release(). Calling peek() again before release() returns
   * the same view.
   * @throws `ERR_SHMKIT_NOT_RAW` on a topic of another codec; see tryNext().
   */
  peek(): Uint8Array | undefined {
    this.#check();
    if (this.#codec.kind !== 'raw') throw notRaw(this.name, 'peek()');
    this.#peeked ??= this.#reader.peek();
    if (!this.#peeked) this.#storeCursor(); // wrap markers it stepped over free room too
    return this.#peeked?.bytes;
  }

  /**
   * Ends a peek: moves past the message and returns true — or returns false
   * when the publisher ('drop-oldest') overwrote it while the view was in
   * use: what the view showed may be torn, drop it (the next read finds an
   * intact message, and 'lagged' counts the skipped ones). Emits 'lagged'
   * here for what was skipped before the message.
   * @throws `ERR_SHMKIT_NO_PEEK` without a pending peek().
   */
  release(): boolean {
    this.#check();
    const found = this.#peeked;
    if (!found) throw outOfOrder('ERR_SHMKIT_NO_PEEK');
    this.#peeked = undefined;
    if (!this.#reader.release(found)) return false;
    this.#delivered(found.skipped);
    return true;
  }

  /** Ends a `for await` loop early (break, return, throw): closes the subscriber. */
  async return(): Promise<IteratorResult<T, undefined>> {
    this.close();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this as AsyncIterableIterator<T>;
  }

  /** Its counters (also in the topic's shared slot table). */
  stats(): SubscriberStats {
    const f = this.#header.f64;
    return {
      slot: this.slot,
      delivered: f[this.#counters.delivered] as number,
      lagged: f[this.#counters.lagged] as number,
      lagEvents: f[this.#counters.lagEvents] as number,
      parks: f[this.#side.parks >> 3] as number,
      behindBytes: this.#closed ? 0 : (this.#reader.tail() - this.#reader.cursor) >>> 0,
    };
  }

  /**
   * Leaves the topic: frees the slot (a publisher it held back goes on) and
   * unmaps the topic; a pending next() resolves `{ done: true }`. Safe twice.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#header.freeSlot(this.slot, this.#generation);
    if (this.#block) wakeSleepers(this.#header.i32, PUBLISHER_WORD);
    this.#watch?.close();
    this.#header.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Reads, decodes and counts the next record, if any; emits 'lagged' for what was skipped before it. */
  #take(): IteratorResult<T, undefined> | undefined {
    const found = this.#reader.read();
    if (!found) {
      this.#storeCursor(); // wrap markers it stepped over free room too
      return undefined;
    }
    this.#delivered(found.skipped);
    return { done: false, value: this.#codec.decode(found.bytes, this.name, this.#owner) };
  }

  /** After a message was read: publishes the cursor, counts it and what was skipped before it ('lagged'). */
  #delivered(skipped: number): void {
    this.#storeCursor();
    const f = this.#header.f64;
    f[this.#counters.delivered] = (f[this.#counters.delivered] as number) + 1;
    if (skipped > 0) {
      f[this.#counters.lagged] = (f[this.#counters.lagged] as number) + skipped;
      f[this.#counters.lagEvents] = (f[this.#counters.lagEvents] as number) + 1;
      this.emit('lagged', skipped);
    }
  }

  #check(): void {
    if (this.#closed) throw useAfterClose(`Subscriber of topic '${this.name}'`);
    if (this.#evicted()) throw slowConsumer(this.name, this.#header.limits.evictAfterMs);
  }

  /** Publishes the cursor; under 'block'/'evict' wakes a publisher that waits for room (one load if none). */
  #storeCursor(): void {
    const cursor = this.#reader.cursor;
    if (Atomics.load(this.#header.u32, this.#cursorIndex) === cursor) return;
    Atomics.store(this.#header.u32, this.#cursorIndex, cursor);
    if (this.#block && (Atomics.load(this.#header.i32, PUBLISHER_WORD) & 1) !== 0) {
      if (wakeSleepers(this.#header.i32, PUBLISHER_WORD)) this.#header.count(OFFSET.publisherWakes);
    }
  }

  /** Whether the publisher has closed the topic or died. */
  #ended(): boolean {
    return this.#publisherDead || this.#header.state !== STATE.open;
  }

  #evicted(): boolean {
    return Atomics.load(this.#header.i32, this.#stateIndex) === SLOT_STATE.evicted;
  }

  /** Watches the publisher's process: once it dies, every sleeping subscriber is woken to end its loop. */
  #watchPublisher(): ProcessWatch | undefined {
    const { pid, startTicks } = this.#header.publisher;
    let watch: ProcessWatch;
    try {
      watch = ProcessWatch.open(pid, Number.isSafeInteger(startTicks) && startTicks > 0 ? { startTicks } : {});
    } catch {
      this.#publisherDead = true; // no such pid can run: a header a peer wrote over
      return undefined;
    }
    watch.exit().then(
      () => {
        this.#publisherDead = true;
        if (!this.#closed) this.#header.forceWake(DATA_WORD);
      },
      () => {}, // closed with the subscriber
    );
    return watch;
  }
}

/** Where a subscriber starts reading; `gap`: `expected` may be older than the record at `cursor` (counted as lagged). */
interface Start {
  cursor: number;
  expected: number | undefined;
  gap?: boolean;
}

/** options.from: 'now', 'history' or a sequence number. */
function fromOf(value: unknown): 'now' | 'history' | number {
  if (value === undefined || value === 'now' || value === 'history') return value ?? 'now';
  if (value !== null && typeof value === 'object') {
    const seq = (value as { seq?: unknown }).seq;
    if (typeof seq === 'number' && Number.isInteger(seq) && seq >= 0 && seq <= 0xffffffff) return seq;
    throw valueError('options.from.seq', 'must be an integer in [0, 4294967295]', seq);
  }
  throw valueError('options.from', "must be 'now', 'history' or { seq }", value);
}

function validateSpin(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1_000_000)
    throw valueError('options.spinUs', 'must be an integer in [0, 1000000]', value);
  return value;
}

/**
 * Where a 'now' subscriber starts: at the tail, expecting the sequence
 * number of the record that goes there (read as a seqlock: tailSeq, tail,
 * nextSeq; the publisher stores them in the opposite order), so that even
 * the messages it misses before its first read are counted.
 */
function nowStart(header: TopicHeader): { cursor: number; expected: number | undefined } {
  const u32 = header.u32;
  for (let attempt = 0; attempt < 64; attempt++) {
    const after = Atomics.load(u32, word(OFFSET.tailSeq));
    const cursor = Atomics.load(u32, word(OFFSET.tail));
    if (Atomics.load(u32, word(OFFSET.nextSeq)) === after) return { cursor, expected: after };
  }
  // A publisher that never pauses: start at the first record read.
  return { cursor: Atomics.load(u32, word(OFFSET.tail)), expected: undefined };
}

/** Whether byte position `cursor` still holds what was published there: behind the tail, not passed by the horizon. */
function intact(header: TopicHeader, cursor: number): boolean {
  const u32 = header.u32;
  const horizon = Atomics.load(u32, word(OFFSET.horizon));
  const tail = Atomics.load(u32, word(OFFSET.tail));
  return ((cursor - horizon) | 0) >= 0 && (tail - cursor) >>> 0 <= header.limits.capacity;
}

/**
 * Where a `{ seq }` subscriber starts: at the record of sequence number
 * `seq`, found by walking the log from the horizon (the oldest intact
 * record); at the oldest record after it (a gap) when it is gone; 'now'
 * when `seq` was not published yet. A walk that the publisher keeps
 * overwriting starts at the tail, the gap counted from `seq`. It steps over
 * every record before `seq` once: O(records in the log), at subscribe only.
 */
function seqStart(header: TopicHeader, seq: number): Start {
  const now = nowStart(header);
  if (now.expected === undefined) {
    // 'now' could not settle on a record (the publisher never paused): its own counter says
    // whether `seq` was published (start at the tail, the gap counted from it) or not ('now').
    const next = Atomics.load(header.u32, word(OFFSET.nextSeq));
    return ((next - seq) | 0) > 0 ? { cursor: now.cursor, expected: seq, gap: true } : now;
  }
  const back = (now.expected - seq) >>> 0;
  if (back === 0 || back > 0x7fffffff) return now; // not published yet
  const u32 = header.u32;
  const capacity = header.limits.capacity;
  const data = new Uint32Array(header.shm.buffer, header.layout.dataOffset, capacity >> 2);
  const mask = capacity - 1;
  const overwritten = (at: number) => ((at - Atomics.load(u32, word(OFFSET.horizon))) | 0) < 0;
  for (let attempt = 0; attempt < 64; attempt++) {
    let at = Atomics.load(u32, word(OFFSET.horizon));
    const tail = Atomics.load(u32, word(OFFSET.tail));
    while (at !== tail && !overwritten(at)) {
      const left = (tail - at) >>> 0;
      if (left > capacity || (at & (FRAME_ALIGN - 1)) !== 0) break;
      const offset = at & mask;
      const length = data[offset >> 2] as number;
      const found = data[(offset >> 2) + 1] as number;
      const size = length === WRAP_MARKER ? capacity - offset : frameBytes(length);
      if (overwritten(at)) break;
      if (size > Math.min(left, capacity - offset))
        throw corruptTopic(header.name, `the record at ${offset} claims ${length} bytes`);
      if (length !== WRAP_MARKER && ((found - seq) | 0) >= 0) return { cursor: at, expected: seq, gap: found !== seq };
      at = (at + size) >>> 0;
    }
    if (at === tail) return { cursor: tail, expected: seq, gap: true }; // all gone: the next one published is the first
  }
  return { cursor: Atomics.load(u32, word(OFFSET.tail)), expected: seq, gap: true };
}

/**
 * Where a 'history' subscriber starts: the oldest of the last
 * historyMessages records still intact, found through the history table and
 * checked against the record's own sequence number; undefined if none is.
 */
function historyStart(header: TopicHeader): { cursor: number; expected: number } | undefined {
  const keep = header.limits.historyMessages;
  if (keep === 0) return undefined;
  const u32 = header.u32;
  const next = Atomics.load(u32, word(OFFSET.nextSeq));
  const published = header.counter(OFFSET.published);
  const count = Math.min(keep, Number.isFinite(published) && published > 0 ? published : 0);
  const tail = Atomics.load(u32, word(OFFSET.tail));
  const data = new Uint32Array(header.shm.buffer, header.layout.dataOffset, header.limits.capacity >> 2);
  const mask = header.limits.capacity - 1;
  for (let back = count; back > 0; back--) {
    const seq = (next - back) >>> 0;
    const at = Atomics.load(u32, (header.layout.historyOffset >> 2) + (seq % keep));
    const horizon = Atomics.load(u32, word(OFFSET.horizon));
    if ((at & (FRAME_ALIGN - 1)) !== 0 || ((at - horizon) | 0) < 0) continue;
    const left = (tail - at) >>> 0;
    if (left === 0 || left > header.limits.capacity) continue;
    const offset = at & mask;
    const length = data[offset >> 2] as number;
    if (data[(offset >> 2) + 1] !== seq || frameBytes(length) > Math.min(left, header.limits.capacity - offset))
      continue;
    return { cursor: at, expected: seq };
  }
  return undefined;
}
