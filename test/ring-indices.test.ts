/**
 * The index and frame arithmetic of a ring (lib/structures/ring/indices.ts),
 * tested directly on a plain ArrayBuffer: no shared memory, no process, no
 * wait. Random inputs come from seededRandom() (test/helpers.ts): the seed is
 * printed when a test fails, and SHMKIT_TEST_SEED=<seed> replays it.
 */
import { describe, expect, it } from 'vitest';
import {
  FRAME_HEADER_BYTES,
  f64,
  frameBytes,
  HEADER_BYTES,
  MAX_CAPACITY,
  OFFSET,
  WRAP_MARKER,
  word,
} from '../lib/structures/ring/format.js';
import {
  ConsumerIndex,
  capacityFor,
  depthBytes,
  HEAD,
  NONE,
  ProducerIndex,
  payloadStart,
  TAIL,
  usedBytes,
} from '../lib/structures/ring/indices.js';
import { seededRandom } from './helpers.js';

const NAME = '/indices-test';
const CONSUMER_WAIT = word(OFFSET.consumerSleeping);
const PRODUCER_WAIT = word(OFFSET.producerSleeping);
const NO_WAKEUP = { word: CONSUMER_WAIT, wake: () => {} };

/** A ring's header and data area in a plain ArrayBuffer, with one producer and one consumer over it. */
function ring(capacity: number, start = 0) {
  const buffer = new ArrayBuffer(HEADER_BYTES + capacity);
  const words = new Int32Array(buffer);
  const u32 = new Uint32Array(buffer);
  const stats = new Float64Array(buffer, 0, HEADER_BYTES / 8);
  const bytes = new Uint8Array(buffer);
  words[TAIL] = start | 0;
  words[HEAD] = start | 0;
  // Both sides "may sleep" (bit 0 of their wait words, never lowered here),
  // so every publication calls its wake, which records the index as stored
  // when the wake is sent.
  words[CONSUMER_WAIT] = 1;
  words[PRODUCER_WAIT] = 1;
  const published = { tails: [] as number[], heads: [] as number[] };
  const producer = new ProducerIndex(buffer, capacity, NAME, false, {
    word: CONSUMER_WAIT,
    wake: () => published.tails.push(words[TAIL] as number),
  });
  const consumer = new ConsumerIndex(buffer, capacity, NAME, false, {
    word: PRODUCER_WAIT,
    wake: () => published.heads.push(words[HEAD] as number),
  });
  const push = (payload: Uint8Array): boolean => {
    if (!producer.begin()) throw producer.misaligned();
    const at = producer.reserve(payload.length);
    if (at === NONE) return false;
    bytes.set(payload, payloadStart(at));
    producer.write(at, payload.length);
    producer.commit();
    return true;
  };
  const pop = (): Uint8Array | undefined => {
    consumer.begin();
    const at = consumer.next();
    if (at === NONE) return undefined;
    const length = consumer.frameLength;
    const message = bytes.slice(payloadStart(at), payloadStart(at) + length);
    consumer.advance(length);
    return message;
  };
  /** The u32 at byte `offset` of the data area. */
  const dataWord = (offset: number) => u32[(HEADER_BYTES + offset) >> 2] as number;
  const setDataWord = (offset: number, value: number) => {
    u32[(HEADER_BYTES + offset) >> 2] = value;
  };
  return { buffer, words, stats, producer, consumer, published, push, pop, dataWord, setDataWord };
}

/** Whether a frame of `length` payload bytes fits at `tail` (with a wrap marker if needed): the model. */
function expectedFit(tail: number, head: number, length: number, capacity: number): boolean {
  const used = usedBytes(tail, head);
  const toEnd = capacity - (tail & (capacity - 1));
  const need = frameBytes(length);
  return need <= toEnd ? used + need <= capacity : used + toEnd + need <= capacity;
}

const filled = (length: number, value: number) => new Uint8Array(length).fill(value);
const corrupt = (detail: RegExp) =>
  expect.objectContaining({
    code: 'ERR_SHMKIT_RING_CORRUPT',
    message: expect.stringMatching(new RegExp(`^ring '${NAME}' is corrupt: ${detail.source}`)),
  });

describe('ring indices: empty, full, exact fit', () => {
  it('an empty ring has no frame and publishes nothing', () => {
    const r = ring(64);
    expect(r.pop()).toBeUndefined();
    expect(r.consumer.next()).toBe(NONE);
    expect(r.consumer.hasMessage()).toBe(false);
    expect(r.producer.hasSpace(64)).toBe(true);
    expect(depthBytes(r.words)).toBe(0);
    expect(r.published).toEqual({ tails: [], heads: [] });
  });

  it('fills up, refuses the next frame, and takes it once a pop frees room', () => {
    const r = ring(64);
    for (let i = 0; i < 4; i++) expect(r.push(filled(8, i))).toBe(true); // 4 frames of 16 bytes
    expect(depthBytes(r.words)).toBe(64);
    expect(r.push(new Uint8Array(0))).toBe(false);
    expect(r.producer.hasSpace(frameBytes(0))).toBe(false);
    expect(r.consumer.hasMessage()).toBe(true);
    expect(r.pop()).toEqual(filled(8, 0));
    expect(r.producer.hasSpace(frameBytes(8))).toBe(true);
    expect(r.push(filled(8, 4))).toBe(true);
    for (let i = 1; i <= 4; i++) expect(r.pop()).toEqual(filled(8, i));
    expect(r.pop()).toBeUndefined();
  });

  it('a frame of exactly the capacity fits from offset 0, and nothing fits beside it', () => {
    const r = ring(128);
    const biggest = filled(128 - FRAME_HEADER_BYTES, 7);
    expect(r.push(biggest)).toBe(true);
    expect(depthBytes(r.words)).toBe(128);
    expect(r.push(new Uint8Array(0))).toBe(false);
    expect(r.pop()).toEqual(biggest);
    expect(r.push(biggest)).toBe(true); // again from offset 0 (128 mod 128)
    expect(r.pop()).toEqual(biggest);
  });

  it('keeps the shared counters of its side: pushed, popped, high water', () => {
    const r = ring(256);
    r.push(filled(10, 1)); // frame 24
    r.push(filled(3, 2)); // frame 16
    r.pop();
    const stat = (offset: number) => r.stats[f64(offset)];
    expect([stat(OFFSET.pushedMessages), stat(OFFSET.pushedBytes)]).toEqual([2, 13]);
    expect([stat(OFFSET.poppedMessages), stat(OFFSET.poppedBytes)]).toEqual([1, 10]);
    expect(stat(OFFSET.highWaterBytes)).toBe(40);
  });

  it('names the capacity a message needs', () => {
    expect(capacityFor(0)).toBe(64);
    expect(capacityFor(56)).toBe(64);
    expect(capacityFor(57)).toBe(128);
    expect(capacityFor(MAX_CAPACITY - FRAME_HEADER_BYTES)).toBe(MAX_CAPACITY);
    expect(capacityFor(MAX_CAPACITY - FRAME_HEADER_BYTES + 1)).toBeGreaterThan(MAX_CAPACITY);
  });
});

describe('ring indices: wrap markers', () => {
  it('writes and publishes a wrap marker when a frame does not fit before the end', () => {
    const r = ring(64);
    r.push(filled(8, 1)); // [0, 16)
    r.push(filled(24, 2)); // [16, 48)
    r.pop(); // head 16
    // 24 bytes need a 32-byte frame; 16 are left before the end: mark them,
    // publish at once (the consumer must free them), but no room at 0 yet.
    expect(r.push(filled(20, 3))).toBe(false);
    expect(r.dataWord(48)).toBe(WRAP_MARKER);
    expect(r.words[TAIL]).toBe(64);
    expect(r.published.tails).toEqual([16, 48, 64]);
    expect(r.pop()).toEqual(filled(24, 2)); // head 48
    expect(r.push(filled(20, 3))).toBe(true); // at 0
    expect(r.published.tails.at(-1)).toBe(96);
    // The consumer skips the marker (freeing and publishing it) and reads from 0.
    expect(r.pop()).toEqual(filled(20, 3));
    expect(r.published.heads).toEqual([16, 48, 64, 96]);
    expect(depthBytes(r.words)).toBe(0);
  });

  it('does not write a marker when even the rest of the lap is not free', () => {
    const r = ring(64, 32);
    r.push(filled(24, 1)); // [32, 64)
    r.push(filled(8, 2)); // [0, 16): tail 80, 48 bytes in use
    r.setDataWord(16, 0x12345678);
    // A 56-byte frame does not fit in the 48 bytes before the end, and those
    // 48 are not free either (the head is at 32): no marker, tail unmoved.
    expect(r.push(filled(48, 3))).toBe(false);
    expect(r.dataWord(16)).toBe(0x12345678);
    expect(r.words[TAIL]).toBe(80);
    expect(r.published.tails).toEqual([64, 80]);
  });

  it('calls wake only when the other side may sleep (bit 0 of its wait word)', () => {
    const r = ring(64);
    r.words[CONSUMER_WAIT] = 4; // an epoch, bit 0 down: no consumer sleeps
    r.push(filled(1, 1));
    expect(r.published.tails).toEqual([]);
    r.words[CONSUMER_WAIT] = 5;
    r.push(filled(1, 2));
    expect(r.published.tails).toEqual([32]);
  });

  it('publishes an index before it wakes (the woken side must see the new value)', () => {
    const r = ring(64);
    r.push(filled(1, 1));
    r.pop();
    expect(r.published).toEqual({ tails: [16], heads: [16] });
  });
});

describe('ring indices: counters wrap at 2^32', () => {
  it('computes used bytes across the wrap of the 32-bit counters', () => {
    expect(usedBytes(8, -8)).toBe(16);
    expect(usedBytes(0, 2 ** 32 - 64)).toBe(64);
    expect(usedBytes(-2147483648, 2147483640)).toBe(8);
  });

  it('keeps 20,000 random messages whole and in order while head and tail pass 2^32', () => {
    const { next } = seededRandom(); // the seed is printed on failure (SHMKIT_TEST_SEED replays it)
    const capacity = 256;
    const r = ring(capacity, 2 ** 32 - 4096); // 4 KiB before the counters wrap to 0
    const queue: Uint8Array[] = [];
    const wrong: string[] = []; // checked at the end: one expect() per step would be slow
    let seq = 0;
    let popped = 0;
    let crossed = false;
    for (let step = 0; popped < 20_000; step++) {
      if (next() < 0.55) {
        const message = filled(Math.floor(next() * 120), seq & 0xff);
        const fits = expectedFit(r.words[TAIL] as number, r.words[HEAD] as number, message.length, capacity);
        if (r.push(message) !== fits) wrong.push(`step ${step}: push of ${message.length} bytes, expected ${fits}`);
        if (fits) {
          queue.push(message);
          seq++;
        }
      } else {
        const message = r.pop();
        const expected = queue.shift();
        if (
          message === undefined ? expected !== undefined : Buffer.compare(message, expected ?? Buffer.alloc(0)) !== 0
        ) {
          wrong.push(`step ${step}: popped ${message?.length} bytes, expected ${expected?.length}`);
        }
        if (message !== undefined) popped++;
      }
      if (depthBytes(r.words) > capacity) wrong.push(`step ${step}: ${depthBytes(r.words)} bytes in use`);
      const head = r.words[HEAD] as number;
      if (head >= 0 && head < 2 ** 20) crossed = true;
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(crossed).toBe(true);
    expect(seq).toBe(popped + queue.length);
  });
});

describe('ring indices against a hostile peer', () => {
  it('refuses a frame length out of bounds', () => {
    const r = ring(64);
    r.push(filled(8, 1)); // frame [0, 16), tail 16
    for (const length of [57, 0x7fffffff, 2 ** 32 - 2, 9]) {
      // 57 > maxMessageBytes; 9 needs a 24-byte frame where 16 are published
      r.setDataWord(0, length);
      r.consumer.begin();
      expect(() => r.consumer.next(), `length ${length}`).toThrow(corrupt(/frame at 0 claims/));
    }
    r.setDataWord(0, 8);
    expect(r.pop()).toEqual(filled(8, 1));
  });

  it('refuses a frame that runs past the end of the data area', () => {
    const r = ring(64, 48);
    r.words[TAIL] = 48 + 64; // a full lap published from offset 48
    r.setDataWord(48, 16); // a 24-byte frame where 16 bytes are left before the end
    expect(() => r.consumer.next()).toThrow(corrupt(/frame at 48 claims 16 bytes/));
  });

  it('refuses a wrap marker past the published tail', () => {
    const r = ring(64, 32);
    r.words[TAIL] = 40; // 8 bytes published, the marker would skip 32
    r.setDataWord(32, WRAP_MARKER);
    expect(() => r.consumer.next()).toThrow(corrupt(/wrap marker at 32 past the published tail/));
  });

  it('refuses indices more than a lap apart, or not 8-aligned', () => {
    const r = ring(64);
    r.words[TAIL] = 128;
    expect(() => r.consumer.next()).toThrow(
      corrupt(/head and tail say 128 bytes are in use, more than its 64-byte data area/),
    );
    r.producer.begin();
    expect(() => r.producer.reserve(8)).toThrow(
      corrupt(/head and tail say 128 bytes are in use, more than its 64-byte data area/),
    );
    r.words[TAIL] = 20;
    expect(r.producer.begin()).toBe(false);
    expect(r.producer.misaligned()).toEqual(corrupt(/tail 20 is not 8-aligned/));
    const fresh = new ConsumerIndex(r.buffer, 64, NAME, false, NO_WAKEUP);
    expect(() => fresh.next()).toThrow(corrupt(/head 0 or tail 20 is not 8-aligned/));
  });

  it('random indices and data: never a frame outside the data area, only ERR_SHMKIT_RING_CORRUPT', () => {
    const { next } = seededRandom(); // the seed is printed on failure (SHMKIT_TEST_SEED replays it)
    const capacity = 256;
    const maxMessageBytes = capacity - FRAME_HEADER_BYTES;
    let errors = 0;
    let frames = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const r = ring(capacity);
      for (let offset = 0; offset < capacity; offset += 4) {
        // Mostly small lengths and markers, so some frames pass the checks.
        const pick = next();
        const value = pick < 0.3 ? WRAP_MARKER : pick < 0.8 ? Math.floor(next() * 64) : Math.floor(next() * 2 ** 32);
        r.setDataWord(offset, value);
      }
      const head = next() < 0.5 ? Math.floor(next() * 2 ** 32) : Math.floor(next() * 32) * 8;
      const spread = next() < 0.7 ? Math.floor(next() * (capacity / 8 + 1)) * 8 : Math.floor(next() * 2 ** 32);
      r.words[HEAD] = head | 0;
      r.words[TAIL] = (head + spread) | 0;
      const consumer = new ConsumerIndex(r.buffer, capacity, NAME, false, NO_WAKEUP);
      try {
        for (let at = consumer.next(); at !== NONE; at = consumer.next()) {
          frames++;
          expect(consumer.frameLength).toBeLessThanOrEqual(maxMessageBytes);
          expect(at + frameBytes(consumer.frameLength)).toBeLessThanOrEqual(capacity);
          expect(usedBytes(r.words[TAIL] as number, consumer.head)).toBeGreaterThanOrEqual(
            frameBytes(consumer.frameLength),
          );
          consumer.advance(consumer.frameLength);
        }
      } catch (error) {
        expect(error).toMatchObject({ code: 'ERR_SHMKIT_RING_CORRUPT' });
        errors++;
      }
    }
    // Both outcomes occur, so the bounds checks above were exercised.
    expect(frames).toBeGreaterThan(100);
    expect(errors).toBeGreaterThan(100);
  });
});

describe('ring indices shared by several handles (a multi side)', () => {
  it('a handle takes up the index another handle moved', () => {
    const r = ring(128);
    const other = new ProducerIndex(r.buffer, 128, NAME, true, NO_WAKEUP);
    const bytes = new Uint8Array(r.buffer);
    expect(r.push(filled(4, 1))).toBe(true);
    other.begin(); // sees tail 16
    const at = other.reserve(4);
    expect(at).toBe(16);
    bytes.set(filled(4, 2), payloadStart(at));
    other.write(at, 4);
    other.commit();
    expect(r.push(filled(4, 3))).toBe(true); // r.producer reloads the tail: lands after it
    expect([r.pop(), r.pop(), r.pop()]).toEqual([filled(4, 1), filled(4, 2), filled(4, 3)]);
    // A shared side's readiness reads the shared indices, not this handle's cache.
    const waiting = new ConsumerIndex(r.buffer, 128, NAME, true, NO_WAKEUP);
    expect(waiting.hasMessage()).toBe(false);
    expect(r.push(filled(1, 4))).toBe(true);
    expect(waiting.hasMessage()).toBe(true);
  });
});
