/**
 * A topic's shared header and subscriber slot table (layout: ./format.ts):
 * creating and validating it, claiming and freeing slots, counters. Opening
 * trusts nothing in the object: every limit is checked against the object's
 * real size before it is used.
 */
import os from 'node:os';
import { requireCapability } from '../../core/binding.js';
import { unsupportedError } from '../../core/errors.js';
import { processLife } from '../../core/processes.js';
import { wakeWord } from '../../primitives/futex.js';
import { SharedMemory } from '../../primitives/shm.js';
import { badTopic } from './errors.js';
import {
  f64,
  HEADER_BYTES,
  type Layout,
  layoutOf,
  MAX_CAPACITY,
  MAX_EVICT_AFTER_MS,
  MAX_HISTORY,
  MAX_SUBSCRIBERS,
  MIN_CAPACITY,
  OFFSET,
  POLICIES,
  SLOT,
  SLOT_BYTES,
  SLOT_STATE,
  type SlowSubscriberPolicy,
  STATE,
  TOPIC_MAGIC,
  TOPIC_VERSION,
  word,
} from './format.js';

/** What the creator fixes: read back and checked by every opener. */
export interface TopicLimits {
  capacity: number;
  maxSubscribers: number;
  historyMessages: number;
  policy: SlowSubscriberPolicy;
  evictAfterMs: number;
  codec: number;
}

/** One slot as it is now. */
export interface SlotView {
  state: number;
  generation: number;
  pid: number;
  startTicks: number;
  cursor: number;
}

const INT32_MAX = 2147483647;

export class TopicHeader {
  readonly name: string;
  readonly shm: SharedMemory;
  readonly limits: TopicLimits;
  readonly layout: Layout;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;

  private constructor(name: string, shm: SharedMemory, limits: TopicLimits) {
    this.name = name;
    this.shm = shm;
    this.limits = limits;
    this.layout = layoutOf(limits.capacity, limits.maxSubscribers, limits.historyMessages);
    this.i32 = new Int32Array(shm.buffer, 0, this.layout.dataOffset >> 2);
    this.u32 = new Uint32Array(shm.buffer, 0, this.layout.dataOffset >> 2);
    this.f64 = new Float64Array(shm.buffer, 0, this.layout.dataOffset >> 3);
  }

  /** Creates the object (shm_open(3) O_EXCL) and its header, state 'open', for this process. */
  static create(name: string, limits: TopicLimits, mode: number, startTicks: number): TopicHeader {
    checkHost();
    const layout = layoutOf(limits.capacity, limits.maxSubscribers, limits.historyMessages);
    const shm = SharedMemory.create(name, { size: layout.totalBytes, mode });
    const header = new TopicHeader(name, shm, limits);
    const i32 = header.i32;
    i32[word(OFFSET.version)] = TOPIC_VERSION;
    i32[word(OFFSET.headerBytes)] = HEADER_BYTES;
    i32[word(OFFSET.capacity)] = limits.capacity;
    i32[word(OFFSET.maxSubscribers)] = limits.maxSubscribers;
    i32[word(OFFSET.historyMessages)] = limits.historyMessages;
    i32[word(OFFSET.policy)] = POLICIES.indexOf(limits.policy);
    header.u32[word(OFFSET.codec)] = limits.codec >>> 0;
    i32[word(OFFSET.evictAfterMs)] = limits.evictAfterMs;
    header.f64[f64(OFFSET.publisherStartTicks)] = startTicks;
    i32[word(OFFSET.publisherPid)] = process.pid;
    header.f64[f64(OFFSET.createdAt)] = Date.now();
    Atomics.store(i32, word(OFFSET.state), STATE.open);
    Atomics.store(i32, word(OFFSET.magic), TOPIC_MAGIC); // last: a reader that sees the magic sees the rest
    return header;
  }

  /**
   * Opens an existing topic and checks its header.
   * @throws `ENOENT`; `ERR_SHMKIT_BAD_TOPIC` for an object that is not a topic
   * of this version or whose limits are out of range or do not fit it.
   */
  static open(name: string): TopicHeader {
    checkHost();
    const shm = SharedMemory.open(name);
    try {
      return new TopicHeader(name, shm, readLimits(name, shm));
    } catch (error) {
      shm.close();
      throw error;
    }
  }

  get state(): number {
    return Atomics.load(this.i32, word(OFFSET.state));
  }

  /** The publisher marks the topic closed, then wakes every subscriber (whatever their sleep bit says). */
  markClosed(): void {
    Atomics.store(this.i32, word(OFFSET.state), STATE.closed);
    this.forceWake(word(OFFSET.dataWord));
  }

  /** Wakes every sleeper of the wait word at Int32 index `index`, changing its epoch so no sleep misses it. */
  forceWake(index: number): void {
    Atomics.add(this.i32, index, 2);
    wakeWord(this.i32, index, INT32_MAX);
  }

  /** The publisher: pid and start time. */
  get publisher(): { pid: number; startTicks: number } {
    return {
      pid: Atomics.load(this.i32, word(OFFSET.publisherPid)),
      startTicks: this.f64[f64(OFFSET.publisherStartTicks)] as number,
    };
  }

  /** Whether the publisher recorded in the header runs (pid and start time) and has not closed the topic. */
  publisherAlive(): boolean {
    if (this.state !== STATE.open) return false;
    return isSameProcess(this.publisher.pid, this.publisher.startTicks);
  }

  #slotI32(slot: number, field: number): number {
    return (this.layout.slotsOffset + slot * SLOT_BYTES + field) >> 2;
  }

  #slotF64(slot: number, field: number): number {
    return (this.layout.slotsOffset + slot * SLOT_BYTES + field) >> 3;
  }

  /**
   * A subscriber claims a free slot (CAS free → claimed) for process `pid`
   * and bumps its generation; it sets its cursor and then activates it.
   * Returns the slot and generation, or undefined when every slot is taken.
   */
  claimSlot(pid: number, startTicks: number): { slot: number; generation: number } | undefined {
    for (let slot = 0; slot < this.limits.maxSubscribers; slot++) {
      const at = this.#slotI32(slot, SLOT.state);
      if (Atomics.compareExchange(this.i32, at, SLOT_STATE.free, SLOT_STATE.claimed) !== SLOT_STATE.free) continue;
      const generation = (Atomics.add(this.i32, this.#slotI32(slot, SLOT.generation), 1) + 1) | 0;
      for (const field of [SLOT.delivered, SLOT.lagged, SLOT.parks, SLOT.lagEvents])
        this.f64[this.#slotF64(slot, field)] = 0;
      this.f64[this.#slotF64(slot, SLOT.startTicks)] = startTicks;
      Atomics.store(this.i32, this.#slotI32(slot, SLOT.pid), pid);
      return { slot, generation };
    }
    return undefined;
  }

  /** Frees every slot whose process is dead (a table full of dead subscribers); returns how many. */
  reclaimDeadSlots(): number {
    let freed = 0;
    for (let slot = 0; slot < this.limits.maxSubscribers; slot++) {
      const at = this.slot(slot);
      if (at.state === SLOT_STATE.free || isSameProcess(at.pid, at.startTicks)) continue;
      if (this.freeSlot(slot, at.generation)) freed++;
    }
    return freed;
  }

  /** One slot as it is now. */
  slot(slot: number): SlotView {
    return {
      state: Atomics.load(this.i32, this.#slotI32(slot, SLOT.state)),
      generation: Atomics.load(this.i32, this.#slotI32(slot, SLOT.generation)),
      pid: Atomics.load(this.i32, this.#slotI32(slot, SLOT.pid)),
      startTicks: this.f64[this.#slotF64(slot, SLOT.startTicks)] as number,
      cursor: Atomics.load(this.u32, this.#slotI32(slot, SLOT.cursor)),
    };
  }

  /** Int32 index of slot `slot`'s state word. */
  slotStateIndex(slot: number): number {
    return this.#slotI32(slot, SLOT.state);
  }

  /** Int32 index of slot `slot`'s cursor word. */
  slotCursorIndex(slot: number): number {
    return this.#slotI32(slot, SLOT.cursor);
  }

  /** Float64 index of one of slot `slot`'s counters. */
  slotCounterIndex(slot: number, field: number): number {
    return this.#slotF64(slot, field);
  }

  /** Sets slot `slot`'s state if it still holds `from` at `generation`; true if it did. */
  moveSlot(slot: number, generation: number, from: number, to: number): boolean {
    if (Atomics.load(this.i32, this.#slotI32(slot, SLOT.generation)) !== generation) return false;
    return Atomics.compareExchange(this.i32, this.#slotI32(slot, SLOT.state), from, to) === from;
  }

  /** Frees slot `slot` if it still belongs to `generation` (claimed, active or evicted); true if it did. */
  freeSlot(slot: number, generation: number): boolean {
    for (const from of [SLOT_STATE.active, SLOT_STATE.evicted, SLOT_STATE.claimed]) {
      if (this.moveSlot(slot, generation, from, SLOT_STATE.free)) return true;
    }
    return false;
  }

  /** A subscriber announces that it joined: the publisher rescans the slots at its next publish. */
  announceJoin(): void {
    Atomics.add(this.i32, word(OFFSET.joins), 1);
  }

  /** The joins epoch. */
  get joins(): number {
    return Atomics.load(this.i32, word(OFFSET.joins));
  }

  /** Adds `delta` to the f64 counter at byte `offset` (one writer per counter). */
  count(offset: number, delta = 1): void {
    const at = f64(offset);
    this.f64[at] = (this.f64[at] as number) + delta;
  }

  counter(offset: number): number {
    return this.f64[f64(offset)] as number;
  }

  close(): void {
    this.shm.close();
  }
}

/** Whether `pid` runs and started at `startTicks` (0 or unknown: any start). */
export function isSameProcess(pid: number, startTicks: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const life = processLife(pid);
  return life.alive && (life.startTicks === undefined || startTicks === 0 || life.startTicks === startTicks);
}

/** Topics need a little-endian host (the format is little-endian) and futex(2) to park and wake. */
function checkHost(): void {
  if (os.endianness() !== 'LE') throw unsupportedError('shmkit topics need a little-endian host.');
  requireCapability('futex', 'shmkit topics (they park and wake with futex(2)) are');
}

/** Reads and checks the creator's limits from the header of `shm`. */
function readLimits(name: string, shm: SharedMemory): TopicLimits {
  if (shm.size < HEADER_BYTES) throw badTopic(name, `${shm.size} bytes is too small for a topic header`);
  const view = new DataView(shm.buffer);
  const i32 = new Int32Array(shm.buffer, 0, HEADER_BYTES >> 2);
  const magic = Atomics.load(i32, word(OFFSET.magic));
  if (magic !== TOPIC_MAGIC) throw badTopic(name, 'no topic magic (not a topic, or still being created)');
  const version = view.getUint32(OFFSET.version, true);
  if (version !== TOPIC_VERSION) throw badTopic(name, `format version ${version}, this shmkit reads ${TOPIC_VERSION}`);
  const headerBytes = view.getUint32(OFFSET.headerBytes, true);
  if (headerBytes !== HEADER_BYTES) throw badTopic(name, `header size ${headerBytes}, expected ${HEADER_BYTES}`);
  const limits = checkLimits(name, view);
  const { totalBytes } = layoutOf(limits.capacity, limits.maxSubscribers, limits.historyMessages);
  if (totalBytes > shm.size) throw badTopic(name, `its limits need ${totalBytes} bytes, the object has ${shm.size}`);
  return limits;
}

function checkLimits(name: string, view: DataView): TopicLimits {
  const capacity = view.getUint32(OFFSET.capacity, true);
  if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0)
    throw badTopic(name, `capacity ${capacity} is not a power of two in [${MIN_CAPACITY}, ${MAX_CAPACITY}]`);
  const maxSubscribers = view.getUint32(OFFSET.maxSubscribers, true);
  if (maxSubscribers < 1 || maxSubscribers > MAX_SUBSCRIBERS)
    throw badTopic(name, `maxSubscribers ${maxSubscribers} is not in [1, ${MAX_SUBSCRIBERS}]`);
  const historyMessages = view.getUint32(OFFSET.historyMessages, true);
  if (historyMessages > MAX_HISTORY) throw badTopic(name, `historyMessages ${historyMessages} exceeds ${MAX_HISTORY}`);
  const policy = POLICIES[view.getUint32(OFFSET.policy, true)];
  if (policy === undefined)
    throw badTopic(name, `unknown slow-subscriber policy ${view.getUint32(OFFSET.policy, true)}`);
  const evictAfterMs = view.getUint32(OFFSET.evictAfterMs, true);
  if (evictAfterMs > MAX_EVICT_AFTER_MS) throw badTopic(name, `evictAfterMs ${evictAfterMs}`);
  return { capacity, maxSubscribers, historyMessages, policy, evictAfterMs, codec: view.getUint32(OFFSET.codec, true) };
}
