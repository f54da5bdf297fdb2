/**
 * What `Topic.list()`, `Topic.stat()` and `shmkit ls`/`stat` show of a topic,
 * read from /dev/shm with plain reads (no mapping, no slot taken), and
 * checked as an opener checks it: a header a peer wrote over is skipped.
 */
import fs from 'node:fs';
import {
  f64 as f64At,
  HEADER_BYTES,
  layoutOf,
  OFFSET,
  POLICIES,
  SLOT,
  SLOT_BYTES,
  SLOT_STATE,
  type SlowSubscriberPolicy,
  STATE,
  TOPIC_MAGIC,
  TOPIC_VERSION,
} from './format.js';
import { isSameProcess } from './header.js';

/** One subscriber as {@link TopicInfo} shows it. */
export interface TopicSubscriberInfo {
  slot: number;
  pid: number;
  /** Whether its process runs (pid and start time). */
  alive: boolean;
  /** 'evicted': the publisher evicted it and it has not closed yet. */
  state: 'active' | 'evicted';
  delivered: number;
  lagged: number;
  /** Bytes published and not yet read by it. */
  behindBytes: number;
}

/** One topic as {@link Topic.list} finds it in /dev/shm. */
export interface TopicInfo {
  name: string;
  /** The publisher's pid. */
  pid: number;
  /** Whether the publisher runs (pid and start time) and has not closed the topic. */
  alive: boolean;
  state: 'open' | 'closed';
  slowSubscriber: SlowSubscriberPolicy;
  capacityBytes: number;
  maxSubscribers: number;
  historyMessages: number;
  published: number;
  overwritten: number;
  evicted: number;
  createdAt: Date;
  subscribers: TopicSubscriberInfo[];
}

/** Every topic in /dev/shm this process can read. */
export function listTopics(): TopicInfo[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/dev/shm');
  } catch {
    return [];
  }
  const out: TopicInfo[] = [];
  for (const entry of entries) {
    const info = readTopicInfo(`/${entry}`);
    if (info) out.push(info);
  }
  return out;
}

/** Topic `name` (a shm name, '/ticks'), or undefined if it is no topic (or not readable by this user). */
export function readTopicInfo(name: string): TopicInfo | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/dev/shm${name}`, 'r');
    const head = Buffer.alloc(HEADER_BYTES);
    if (fs.readSync(fd, head, 0, HEADER_BYTES, 0) < HEADER_BYTES) return undefined;
    if (head.readUInt32LE(OFFSET.magic) !== TOPIC_MAGIC || head.readUInt32LE(OFFSET.version) !== TOPIC_VERSION)
      return undefined;
    const capacity = head.readUInt32LE(OFFSET.capacity);
    const maxSubscribers = head.readUInt32LE(OFFSET.maxSubscribers);
    const historyMessages = head.readUInt32LE(OFFSET.historyMessages);
    const policy = POLICIES[head.readUInt32LE(OFFSET.policy)];
    if (!policy || maxSubscribers < 1 || maxSubscribers > 1024 || historyMessages > 65536) return undefined;
    const layout = layoutOf(capacity, maxSubscribers, historyMessages);
    const slots = Buffer.alloc(maxSubscribers * SLOT_BYTES);
    if (fs.readSync(fd, slots, 0, slots.length, layout.slotsOffset) < slots.length) return undefined;
    const pid = head.readInt32LE(OFFSET.publisherPid);
    const state = head.readInt32LE(OFFSET.state) === STATE.open ? 'open' : 'closed';
    const tail = head.readUInt32LE(OFFSET.tail);
    const at = (offset: number) => head.readDoubleLE(f64At(offset) * 8);
    return {
      name,
      pid,
      alive: state === 'open' && isSameProcess(pid, at(OFFSET.publisherStartTicks)),
      state,
      slowSubscriber: policy,
      capacityBytes: capacity,
      maxSubscribers,
      historyMessages,
      published: at(OFFSET.published),
      overwritten: at(OFFSET.overwritten),
      evicted: at(OFFSET.evicted),
      createdAt: new Date(at(OFFSET.createdAt)),
      subscribers: subscribersOf(slots, maxSubscribers, tail),
    };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function subscribersOf(slots: Buffer, maxSubscribers: number, tail: number): TopicSubscriberInfo[] {
  const out: TopicSubscriberInfo[] = [];
  for (let slot = 0; slot < maxSubscribers; slot++) {
    const base = slot * SLOT_BYTES;
    const state = slots.readInt32LE(base + SLOT.state);
    if (state !== SLOT_STATE.active && state !== SLOT_STATE.evicted) continue;
    const pid = slots.readInt32LE(base + SLOT.pid);
    out.push({
      slot,
      pid,
      alive: isSameProcess(pid, slots.readDoubleLE(base + SLOT.startTicks)),
      state: state === SLOT_STATE.active ? 'active' : 'evicted',
      delivered: slots.readDoubleLE(base + SLOT.delivered),
      lagged: slots.readDoubleLE(base + SLOT.lagged),
      behindBytes: (tail - slots.readUInt32LE(base + SLOT.cursor)) >>> 0,
    });
  }
  return out;
}
