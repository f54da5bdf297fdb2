/**
 * Topic: one publisher, many subscriber processes, checksummed sequence
 * numbers (fixtures/topic-messages.mjs) under each slow-subscriber policy;
 * death of a subscriber, close of the publisher, history, limits and hostile
 * bytes in the header and slot table. Each test checks that nothing named
 * after its topic is left in /dev/shm.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type IpcObject, SharedMemory, type Subscriber, Topic, type TopicCreateOptions } from '../lib/index.js';
import { check, message, Tally } from './fixtures/topic-messages.mjs';
import {
  type ChildResult,
  nextMessage,
  runFixture,
  seededRandom,
  uniqueName,
  untilAsleep,
  waitFor,
} from './helpers.js';

/** A topic of raw messages, closed (and checked for leftovers) when the test ends. */
function topic(options: TopicCreateOptions<Uint8Array> = {}): { pub: Topic<Uint8Array>; name: string } {
  const name = uniqueName('topic');
  const pub = Topic.create<Uint8Array>(name, { codec: 'raw', ...options });
  onTestFinished(() => {
    pub.close();
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });
  return { pub, name };
}

/** An in-process subscriber closed when the test ends. */
function subscribe(name: string, from: 'now' | 'history' = 'now'): Subscriber<Uint8Array> {
  const sub = Topic.subscribe<Uint8Array>(name, { codec: 'raw', from });
  onTestFinished(() => sub.close());
  return sub;
}

interface Child {
  child: ChildProcess;
  done: Promise<ChildResult>;
  pid: number;
  slot: number;
}

/** Starts a subscriber process and waits until it has subscribed. */
async function subscriber(name: string, how: 'fast' | 'slow' | 'stall' | 'gated', from = 'now'): Promise<Child> {
  const { child, done } = runFixture('topic-subscriber.mjs', [name, how, from]);
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const ready = (await nextMessage(child, (m) => (m as { ready?: boolean }).ready === true)) as {
    pid: number;
    slot: number;
  };
  return { child, done, pid: ready.pid, slot: ready.slot };
}

interface Report {
  delivered: number;
  first: number;
  last: number;
  skipped: number;
  lagEvents: number;
  errors: number;
  firstError?: string;
}

/** The tally a subscriber process sent when its loop ended; it must have exited cleanly. */
async function reportOf(child: Child): Promise<Report> {
  const result = await child.done;
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const report = result.messages.find((m) => (m as { done?: boolean }).done) as Report | undefined;
  if (!report) throw new Error('the subscriber sent no report');
  return report;
}

/** Publishes messages [from, to), awaiting room when the topic is full ('block'). */
async function publishRange(pub: Topic<Uint8Array>, from: number, to: number, pace?: () => Promise<void>) {
  for (let seq = from; seq < to; seq++) {
    if (!pub.tryPublish(message(seq))) await pub.publish(message(seq), { timeoutMs: 30_000 });
    if (pace && (seq & 1023) === 0) await pace();
  }
}

// 1,000,000 messages per policy, as the issue asks: each of these tests takes about
// 8 s here (4 subscriber processes, 2 shared cores). SHMKIT_TOPIC_MESSAGES overrides it.
const MESSAGES = Number(process.env.SHMKIT_TOPIC_MESSAGES ?? 1_000_000);
const BLOCK_MESSAGES = MESSAGES;
const DROP_MESSAGES = MESSAGES;

describe('Topic: fan-out to subscriber processes', () => {
  it(`'block': ${BLOCK_MESSAGES} messages to 4 subscriber processes, each gets all, in order and untorn`, {
    timeout: 120_000,
  }, async () => {
    const { pub, name } = topic({ capacityBytes: 1 << 16, slowSubscriber: 'block' });
    const subs = await Promise.all([0, 1, 2, 3].map(() => subscriber(name, 'fast')));
    await publishRange(pub, 0, BLOCK_MESSAGES);
    pub.close();
    for (const sub of subs) {
      const report = await reportOf(sub);
      expect(report).toMatchObject({
        delivered: BLOCK_MESSAGES,
        first: 0,
        last: BLOCK_MESSAGES - 1,
        skipped: 0,
        errors: 0,
      });
    }
  });

  it('one publish wakes 4 sleeping subscriber processes with one futex wake', { timeout: 30_000 }, async () => {
    const { pub, name } = topic();
    const subs = await Promise.all([0, 1, 2, 3].map(() => subscriber(name, 'fast')));
    for (const sub of subs) await untilAsleep('shared-futex', 1, sub.pid);
    expect(pub.stats().wakes).toBe(0);
    pub.tryPublish(message(0));
    expect(pub.stats().wakes).toBe(1);
    pub.close();
    for (const sub of subs) {
      const report = (await reportOf(sub)) as Report & { stats: { parks: number } };
      expect(report).toMatchObject({ delivered: 1, first: 0, last: 0, errors: 0 });
      expect(report.stats.parks).toBeGreaterThanOrEqual(1);
    }
  });

  it(`'drop-oldest': a slow subscriber gets an in-order subsequence whose reported skips add up exactly; the fast ones get all ${DROP_MESSAGES}`, {
    timeout: 120_000,
  }, async () => {
    const capacityBytes = 1 << 16;
    const { pub, name } = topic({ capacityBytes, slowSubscriber: 'drop-oldest' });
    const fast = await Promise.all([0, 1, 2].map(() => subscriber(name, 'fast')));
    const slow = await subscriber(name, 'slow');
    const fastSlots = new Set(fast.map((sub) => sub.slot));
    // The harness paces the publisher to its fast subscribers (the topic never
    // waits under 'drop-oldest'): a fast one is one that keeps up.
    const pace = async () => {
      const behind = () =>
        Math.max(
          ...(Topic.stat(name)?.subscribers ?? [])
            .filter((sub) => fastSlots.has(sub.slot))
            .map((sub) => sub.behindBytes),
        );
      while (behind() > capacityBytes / 4) await sleep(0);
    };
    await publishRange(pub, 0, DROP_MESSAGES, pace);
    pub.close();
    for (const sub of fast) {
      expect(await reportOf(sub)).toMatchObject({
        delivered: DROP_MESSAGES,
        first: 0,
        last: DROP_MESSAGES - 1,
        skipped: 0,
        errors: 0,
      });
    }
    const report = await reportOf(slow);
    expect(report.errors, report.firstError).toBe(0);
    expect(report.last).toBe(DROP_MESSAGES - 1);
    expect(report.skipped).toBeGreaterThan(0);
    // Every message from its first on was either delivered or reported skipped.
    expect(report.delivered + report.skipped).toBe(DROP_MESSAGES - report.first);
    console.log('slow subscriber', report);
  });

  it(`'evict': of 4 subscribers, only the one that holds the publisher back past evictAfterMs is removed (its next read fails with ERR_SHMKIT_SLOW_CONSUMER); the 3 fast subscriber processes get all ${MESSAGES}`, {
    timeout: 120_000,
  }, async () => {
    // evictAfterMs is generous: a fast subscriber that a loaded machine does not run for that long would be evicted too.
    const { pub, name } = topic({ capacityBytes: 1 << 16, slowSubscriber: 'evict', evictAfterMs: 2000 });
    const fast = await Promise.all([0, 1, 2].map(() => subscriber(name, 'fast')));
    const stalled = subscribe(name);
    await publishRange(pub, 0, MESSAGES);
    expect(pub.stats().evicted).toBe(1);
    expect(() => stalled.tryNext()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_SLOW_CONSUMER' }));
    await expect(stalled.next()).rejects.toMatchObject({ code: 'ERR_SHMKIT_SLOW_CONSUMER' });
    pub.close();
    for (const sub of fast) {
      expect(await reportOf(sub)).toMatchObject({ delivered: MESSAGES, first: 0, last: MESSAGES - 1, errors: 0 });
    }
  });
});

describe('Topic: failures', () => {
  it('SIGKILL of the subscriber that blocks the publisher unblocks it at once', { timeout: 30_000 }, async () => {
    const { pub, name } = topic({ capacityBytes: 4096, slowSubscriber: 'block' });
    const stalled = await subscriber(name, 'stall');
    const fast = await subscriber(name, 'fast');
    let seq = 0;
    while (pub.tryPublish(message(seq))) seq++;
    const blocked = pub.publish(message(seq)); // no timeout: only the death can end it
    let settled = false;
    blocked.then(() => {
      settled = true;
    });
    await waitFor(() => pub.stats().parks > 0, 'the publisher to park');
    expect(settled).toBe(false);
    expect(pub.stats().subscribers).toBe(2);
    stalled.child.kill('SIGKILL');
    await blocked;
    seq++;
    expect(pub.stats().subscribers).toBe(1);
    await publishRange(pub, seq, seq + 5000);
    pub.close();
    expect(await reportOf(fast)).toMatchObject({ delivered: seq + 5000, first: 0, last: seq + 4999, errors: 0 });
  });

  it('SIGKILL of the subscriber that blocks a publishSync() in another process unblocks it', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('topic');
    const publisher = runFixture('topic-publisher.mjs', [name, '1000', '4096']);
    onTestFinished(() => {
      if (publisher.child.exitCode === null && publisher.child.signalCode === null) publisher.child.kill('SIGKILL');
    });
    await nextMessage(publisher.child, (m) => (m as { ready?: boolean }).ready === true);
    const stalled = await subscriber(name, 'stall');
    publisher.child.send('publish');
    await untilAsleep('shared-futex', 1, publisher.child.pid as number); // blocked by the stalled one
    const published = nextMessage(publisher.child, (m) => (m as { published?: boolean }).published === true);
    stalled.child.kill('SIGKILL');
    await published;
    expect(Topic.stat(name)?.subscribers).toEqual([]);
    publisher.child.kill('SIGKILL');
    await publisher.done;
    Topic.unlink(name);
  });

  it('a publisher that closes first: subscribers still get everything it published, then their loops end', async () => {
    const { pub, name } = topic({ capacityBytes: 1 << 16 });
    const gated = await subscriber(name, 'gated');
    const local = subscribe(name);
    await publishRange(pub, 0, 500);
    pub.close();
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
    gated.child.send('go');
    expect(await reportOf(gated)).toMatchObject({ delivered: 500, first: 0, last: 499, errors: 0 });
    const seen: number[] = [];
    for await (const bytes of local) seen.push(check(bytes));
    expect(seen).toEqual([...Array(500).keys()]);
    expect(await local.next()).toEqual({ done: true, value: undefined });
  });

  it('a publisher that dies: subscribers read what it published, then their loops end; create() takes the name over', async () => {
    const name = uniqueName('topic');
    const { child, done } = runFixture('topic-publisher.mjs', [name, '300']);
    await nextMessage(child, (m) => (m as { ready?: boolean }).ready === true);
    const sub = subscribe(name);
    child.send('publish');
    await nextMessage(child, (m) => (m as { published?: boolean }).published === true);
    child.kill('SIGKILL');
    await done;
    const tally = new Tally();
    for await (const bytes of sub) tally.add(bytes);
    expect(tally.report()).toMatchObject({ delivered: 300, first: 0, last: 299, errors: 0 });
    expect(Topic.stat(name)).toMatchObject({ alive: false, state: 'open' });
    const again = Topic.create(name, { codec: 'raw' });
    again.close();
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });

  it('a subscriber that dies frees its slot: maxSubscribers + 1 fails with ERR_SHMKIT_TOPIC_FULL until one leaves', async () => {
    const { pub, name } = topic({ maxSubscribers: 2 });
    const local = subscribe(name);
    const child = await subscriber(name, 'stall');
    expect(() => Topic.subscribe(name, { codec: 'raw' })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_TOPIC_FULL' }),
    );
    local.close();
    subscribe(name).close();
    const again = subscribe(name);
    expect(() => Topic.subscribe(name, { codec: 'raw' })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_TOPIC_FULL' }),
    );
    child.child.kill('SIGKILL');
    await child.done;
    // The dead subscriber's slot is taken again (freed by the publisher's watch, or reclaimed by the joiner).
    subscribe(name);
    expect(() => Topic.subscribe(name, { codec: 'raw' })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_TOPIC_FULL' }),
    );
    expect(again.stats().delivered).toBe(0);
    expect(pub.stats().subscribers).toBe(2);
  });

  it('a subscriber with another codec fails with ERR_SHMKIT_CODEC_MISMATCH; subscribing to no topic with ENOENT', () => {
    const { name } = topic();
    expect(() => Topic.subscribe(name, { codec: 'json' })).toThrow(
      expect.objectContaining({ code: 'ERR_SHMKIT_CODEC_MISMATCH' }),
    );
    expect(() => Topic.subscribe(uniqueName('topic'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => Topic.create(name)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });
});

describe('Topic: history, values, waits', () => {
  it("history joiners get the last historyMessages messages, then the new ones; 'now' joiners only the new ones", async () => {
    const { pub, name } = topic({ historyMessages: 8 });
    await publishRange(pub, 0, 20);
    const late = subscribe(name, 'history');
    const now = subscribe(name, 'now');
    await publishRange(pub, 20, 25);
    const take = (sub: Subscriber<Uint8Array>) => {
      const out: number[] = [];
      for (let r = sub.tryNext(); r && !r.done; r = sub.tryNext()) out.push(check(r.value));
      return out;
    };
    expect(take(late)).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(take(now)).toEqual([20, 21, 22, 23, 24]);
  });

  it('from { seq }: starts at that message while the log holds it, else at the oldest one it holds, reporting the gone ones as lagged', async () => {
    const { pub, name } = topic({ capacityBytes: 1024 });
    await publishRange(pub, 0, 100); // far more than 1 KiB: the first ones are overwritten
    const take = (sub: Subscriber<Uint8Array>) => {
      const out: number[] = [];
      for (let r = sub.tryNext(); r && !r.done; r = sub.tryNext()) out.push(check(r.value));
      return out;
    };
    const at95 = Topic.subscribe<Uint8Array>(name, { codec: 'raw', from: { seq: 95 } });
    onTestFinished(() => at95.close());
    expect(at95.nextSeq).toBe(95);
    expect(take(at95)).toEqual([95, 96, 97, 98, 99]);
    expect(at95.nextSeq).toBe(100);
    const gone = Topic.subscribe<Uint8Array>(name, { codec: 'raw', from: { seq: 3 } });
    onTestFinished(() => gone.close());
    const lagged: number[] = [];
    gone.on('lagged', (n: number) => lagged.push(n));
    const got = take(gone);
    expect(got.at(-1)).toBe(99);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => (got[0] as number) + i));
    expect(got[0]).toBeGreaterThan(3);
    expect(lagged).toEqual([(got[0] as number) - 3]); // exactly the ones from 3 on that were gone
    expect(gone.stats().lagged).toBe((got[0] as number) - 3);
    // Not published yet: from now on.
    const ahead = Topic.subscribe<Uint8Array>(name, { codec: 'raw', from: { seq: 100 } });
    onTestFinished(() => ahead.close());
    expect(ahead.tryNext()).toBeUndefined();
    await publishRange(pub, 100, 101);
    expect(take(ahead)).toEqual([100]);
    expect(() => Topic.subscribe(name, { codec: 'raw', from: { seq: -1 } })).toThrow(/options\.from\.seq/);
    expect(() => Topic.subscribe(name, { codec: 'raw', from: 'later' as 'now' })).toThrow(/options\.from/);
  });

  it('messages of every size up to maxMessageBytes, across wraps, under each policy', () => {
    for (const slowSubscriber of ['block', 'drop-oldest', 'evict'] as const) {
      const { pub, name } = topic({ capacityBytes: 256, slowSubscriber });
      const sub = subscribe(name);
      expect(pub.maxMessageBytes).toBe(248);
      for (let round = 0; round < 3; round++) {
        for (let length = 0; length <= pub.maxMessageBytes; length += 8 + round) {
          const bytes = new Uint8Array(length).fill(length & 0xff);
          if (!pub.tryPublish(bytes)) {
            // 'block', 'evict': the wrap marker went out first, and the subscriber
            // frees its room by stepping over it (as a ring's consumer does).
            expect(slowSubscriber).not.toBe('drop-oldest');
            expect(sub.tryNext()).toBeUndefined();
            expect(pub.tryPublish(bytes)).toBe(true);
          }
          const got = sub.tryNext();
          expect(got?.value).toEqual(bytes);
        }
      }
      expect(sub.tryNext()).toBeUndefined();
      expect(sub.stats().lagged).toBe(0);
    }
  });

  it("'drop-oldest': a subscriber lapped by more than 4 GiB (32-bit positions wrap) resyncs instead of reading its old cursor in the middle of other records", () => {
    const { pub, name } = topic({ capacityBytes: 1 << 22, slowSubscriber: 'drop-oldest' });
    expect(pub.maxMessageBytes).toBeGreaterThan((1 << 20) + 200_000);
    // One message before the subscriber joins: its cursor starts at byte 1008, not at a lap's start.
    expect(pub.tryPublish(new Uint8Array(1000))).toBe(true);
    const sub = subscribe(name);
    // Message i: 4 bytes of i, then i's low byte repeated; sizes vary, so the records sit at other
    // offsets in every lap and the old cursor falls in the middle of one. Publish (tracking the
    // byte position as the publisher moves it, wrap markers included) just past 2^32 bytes.
    const capacity = 1 << 22;
    const sizeOf = (i: number) => (1 << 20) + (i % 3) * 100_000;
    const bytes = new Uint8Array(sizeOf(2));
    const view = new DataView(bytes.buffer);
    let position = 1008;
    let count = 0;
    for (let i = 0; position < 2 ** 32 + 1008 + (1 << 20); i++) {
      const size = sizeOf(i);
      const frame = Math.ceil((size + 8) / 8) * 8;
      if (frame > capacity - (position % capacity)) position += capacity - (position % capacity);
      position += frame;
      view.setUint32(0, i + 1, true); // message 0 was the one before the subscriber joined
      bytes.fill((i + 1) & 0xff, 4, 64);
      expect(pub.tryPublish(bytes.subarray(0, size))).toBe(true);
      count = i + 2;
    }
    let lagged = 0;
    sub.on('lagged', (n: number) => {
      lagged += n;
    });
    const first = sub.tryNext();
    expect(first?.done).toBe(false);
    const got = first?.value as Uint8Array;
    const seq = new DataView(got.buffer, got.byteOffset).getUint32(0, true);
    expect(got.length).toBe(sizeOf(seq - 1));
    expect(got.subarray(4, 64).every((b) => b === (seq & 0xff))).toBe(true); // an intact record
    expect(seq).toBeGreaterThan(count - 5); // one of the last ones in the log, not an old position's bytes
    expect(lagged).toBe(seq - 1); // everything it had not read was skipped, and said so
  }, 60_000);

  it('msgpack values (the default codec), next() with a timeout, an abort signal, Topic.list()', async () => {
    const name = uniqueName('topic');
    const pub = Topic.create<{ n: number; tags: string[] }>(name);
    onTestFinished(() => pub.close());
    const sub = Topic.subscribe<{ n: number; tags: string[] }>(name);
    onTestFinished(() => sub.close());
    await expect(sub.next({ timeoutMs: 5 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const waiting = sub.next();
    pub.publishSync({ n: 1, tags: ['a'] });
    expect(await waiting).toEqual({ done: false, value: { n: 1, tags: ['a'] } });
    const controller = new AbortController();
    const aborted = sub.next({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORT_ERR' });
    const listed = Topic.list().find((info) => info.name === name);
    expect(listed).toMatchObject({ pid: process.pid, alive: true, state: 'open', slowSubscriber: 'block' });
    expect(listed?.subscribers).toHaveLength(1);
    expect(() => pub.tryPublish(undefined as never)).not.toThrow();
    expect(() => Topic.create(uniqueName('topic'), { capacityBytes: 1000 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => Topic.create(uniqueName('topic'), { slowSubscriber: 'never' as never })).toThrow(TypeError);
    expect(() => pub.tryPublish(new Uint8Array(2 << 20) as never)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
  });

  it('a subscription signal ends it: the slot is freed and a pending next() rejects with an AbortError', async () => {
    const { pub, name } = topic();
    const controller = new AbortController();
    const sub = Topic.subscribe(name, { codec: 'raw', signal: controller.signal });
    const pending = sub.next();
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(pub.stats().subscribers).toBe(0);
  });
});

describe('Topic: zero-copy (codec raw)', () => {
  it('claim()/commit() write in place; peek()/release() read in place; calls out of order fail with their codes', () => {
    const { pub, name } = topic({ capacityBytes: 4096 });
    const sub = subscribe(name);
    const view = pub.claim(64) as Uint8Array;
    expect(() => pub.tryPublish(message(0))).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLAIM_PENDING' }));
    expect(() => pub.claim(8)).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_CLAIM_PENDING' }));
    view.set(message(7));
    pub.commit(message(7).length); // shortened to what was written
    expect(() => pub.commit()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NO_CLAIM' }));
    expect(() => pub.claim(pub.maxMessageBytes + 1)).toThrow(RangeError);
    const seen = sub.peek() as Uint8Array;
    expect(check(seen)).toBe(7);
    expect(sub.peek()).toBe(seen); // the same view until release()
    expect(() => sub.tryNext()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_PEEK_PENDING' }));
    expect(sub.release()).toBe(true);
    expect(() => sub.release()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NO_PEEK' }));
    expect(sub.peek()).toBeUndefined();
    expect(sub.stats()).toMatchObject({ delivered: 1, lagged: 0 });
  });

  it("'drop-oldest': a peeked message the publisher overwrites meanwhile is refused at release(); the next read counts what was skipped", () => {
    const { pub, name } = topic({ capacityBytes: 1024, slowSubscriber: 'drop-oldest' });
    const sub = subscribe(name);
    const lagged: number[] = [];
    sub.on('lagged', (count: number) => lagged.push(count));
    pub.tryPublish(message(0));
    expect(check(sub.peek() as Uint8Array)).toBe(0);
    for (let seq = 1; seq < 200; seq++) pub.tryPublish(message(seq));
    expect(sub.release()).toBe(false);
    const next = sub.tryNext();
    const first = check(next?.value as Uint8Array);
    expect(lagged).toEqual([first]); // messages 0 .. first - 1 are gone
    let last = first;
    for (let r = sub.tryNext(); r && !r.done; r = sub.tryNext()) last = check(r.value);
    expect(last).toBe(199);
    expect(sub.stats()).toMatchObject({ lagged: first, delivered: 200 - first });
  });

  it('zero-copy calls on a topic of another codec fail with ERR_SHMKIT_NOT_RAW', () => {
    const name = uniqueName('topic');
    const pub = Topic.create(name);
    onTestFinished(() => pub.close());
    const sub = Topic.subscribe(name);
    onTestFinished(() => sub.close());
    expect(() => pub.claim(8)).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NOT_RAW' }));
    expect(() => sub.peek()).toThrow(expect.objectContaining({ code: 'ERR_SHMKIT_NOT_RAW' }));
  });
});

/** Rounds per policy of the hostile-bytes test (SHMKIT_TOPIC_FUZZ_ROUNDS for a longer run). */
const FUZZ_ROUNDS = Number(process.env.SHMKIT_TOPIC_FUZZ_ROUNDS ?? 200);

describe('Topic: hostile bytes', () => {
  /** Random 32-bit values a buggy or hostile peer might write. */
  function hostile(random: { int(n: number): number; next(): number }): number {
    const picks = [0, 1, 2, 3, 4, -1, 8, 0x7fffffff, -0x80000000, 64, 4096, 1 << 30, process.pid];
    return random.next() < 0.5 ? (picks[random.int(picks.length)] as number) : (random.next() * 2 ** 32) | 0;
  }

  it('random bytes over a live header, slot table and log: clear errors, never a crash or a hang', {
    timeout: 60_000,
  }, async () => {
    const random = seededRandom();
    for (const policy of ['block', 'drop-oldest', 'evict'] as const) {
      const outcomes = new Map<string, number>();
      const tally = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
      const settle = async (run: () => unknown) => {
        try {
          await run();
          tally('ok');
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (typeof code !== 'string') throw error;
          tally(code);
        }
      };
      // A fresh topic every 50 rounds: restoring a log word the publisher has rewritten since
      // corrupts the log for good, and the other states deserve rounds too.
      for (let batch = 0; batch < Math.ceil(FUZZ_ROUNDS / 50); batch++) {
        const { pub, name } = topic({
          capacityBytes: 1024,
          maxSubscribers: 4,
          historyMessages: 4,
          slowSubscriber: policy,
          evictAfterMs: 2,
        });
        const subs = [subscribe(name), subscribe(name, 'history')];
        const shm = SharedMemory.open(name);
        onTestFinished(() => shm.close());
        const i32 = new Int32Array(shm.buffer);
        const words = i32.length;
        for (let round = 0; round < 50; round++) {
          const picked: number[] = [];
          for (let n = 1 + random.int(4); n > 0; n--) {
            const r = random.next();
            // the header (0–127), the history and slot table (128–447), the log
            picked.push(r < 0.5 ? random.int(128) : r < 0.8 ? 128 + random.int(320) : random.int(words));
          }
          const saved = picked.map((at) => i32[at] as number);
          for (const at of picked) i32[at] = hostile(random);
          await settle(() => pub.tryPublish(message(round)));
          await settle(() => pub.publishSync(message(round), { timeoutMs: 2 }));
          await settle(() => pub.publish(message(round), { timeoutMs: 2 }));
          await settle(() => {
            const view = pub.claim(16);
            if (view) pub.commit();
          });
          for (const sub of subs) {
            await settle(() => sub.tryNext());
            await settle(() => sub.next({ timeoutMs: 2 }));
            await settle(() => {
              if (sub.peek()) sub.release();
            });
          }
          await settle(() => Topic.subscribe(name, { codec: 'raw', from: round % 2 ? 'history' : 'now' }).close());
          settle(() => Topic.stat(name));
          picked.forEach((at, k) => {
            i32[at] = saved[k] as number;
          });
        }
        shm.close();
        pub.close();
      }
      console.log(`fuzz outcomes (${policy})`, Object.fromEntries(outcomes));
      for (const code of outcomes.keys()) {
        expect([
          'ok',
          'ETIMEDOUT',
          'ERR_SHMKIT_TOPIC_CORRUPT',
          'ERR_SHMKIT_BAD_TOPIC',
          'ERR_SHMKIT_TOPIC_FULL',
          'ERR_SHMKIT_CODEC_MISMATCH',
          'ERR_SHMKIT_SLOW_CONSUMER',
        ]).toContain(code);
      }
    }
  });
});

/** Runs the built `shmkit` command in another process. */
function shmkit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = path.join(__dirname, '..', 'dist', 'tooling', 'cli', 'main.js');
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('Topic: shmkit ls, stat and rm --stale', () => {
  it('ls lists a topic as its own kind with its publisher; stat shows its subscribers; once the publisher dies rm --stale removes it', async () => {
    const name = uniqueName('topic');
    const { child, done } = runFixture('topic-publisher.mjs', [name, '10']);
    await nextMessage(child, (m) => (m as { ready?: boolean }).ready === true);
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const sub = subscribe(name);
    child.send('publish');
    await nextMessage(child, (m) => (m as { published?: boolean }).published === true);
    const ls = async () => {
      const result = await shmkit('ls', '--json', '--match', name.slice(1));
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as IpcObject[];
    };
    expect(await ls()).toEqual([expect.objectContaining({ kind: 'topic', name, creatorPid: child.pid, stale: false })]);
    const stat = await shmkit('stat', name);
    expect(stat.code, stat.stderr).toBe(0);
    expect(stat.stdout).toContain(`topic ${name}: open, publisher pid ${child.pid} (alive)`);
    expect(stat.stdout).toMatch(new RegExp(`\\b${process.pid}\\b.*\\btrue\\b.*\\bactive\\b`));
    const json = JSON.parse((await shmkit('stat', '--json', name)).stdout);
    expect(json).toMatchObject({
      name,
      pid: child.pid,
      published: 10,
      subscribers: [{ pid: process.pid, delivered: 0 }],
    });
    sub.close();
    child.kill('SIGKILL');
    await done;
    expect(await ls()).toEqual([expect.objectContaining({ kind: 'topic', stale: true })]);
    const removed = await shmkit('rm', '--stale', '--match', name.slice(1));
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(new RegExp(`^removed topic ${name}$`, 'm'));
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });
});
