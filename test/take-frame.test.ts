import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../lib/index.js';
import { creditPayload, encodeFrame, REQ, RES, readCredit } from '../lib/services/format.js';
import { type FrameReader, takeFrame } from '../lib/services/take-frame.js';
import { resolveCodec } from '../lib/structures/codecs.js';
import { track, uniqueName } from './helpers.js';

const reader = (codec: 'json' | 'msgpack' | 'raw'): FrameReader => ({
  valueTypes: (1 << REQ.call) | (1 << REQ.stream) | (1 << REQ.notify) | (1 << RES.event),
  codec: resolveCodec(codec),
  name: '/t',
  owner: "Service '/t'",
  undefinedWhenEmpty: 0,
});

describe('takeFrame (a frame read in place, then its ring space released)', () => {
  it.each(['json', 'msgpack', 'raw'] as const)(
    "keeps nothing of the ring: a control frame's payload and a value survive the peer reusing the space (%s)",
    (codec) => {
      const ring = track(RingBuffer.create(uniqueName('frames'), { capacityBytes: 256 }), RingBuffer);
      const r = reader(codec);
      const value = codec === 'raw' ? new Uint8Array([1, 2, 3]) : { a: 1, b: [2, 3] };
      const valueBytes = r.codec.encode(value as never, '/t');
      // Fill the ring with credit frames and one call, then take them while the "peer" keeps refilling
      // the released space with frames of other bytes.
      let pushed = 0;
      while (ring.tryPush(encodeFrame(REQ.credit, pushed, '', creditPayload(32 + pushed)))) pushed++;
      const taken: Array<{ id: number; credit: number }> = [];
      for (let i = 0; i < pushed; i++) {
        const frame = takeFrame(ring, r);
        expect(frame).toBeTruthy();
        // The peer writes over what was just released.
        ring.tryPush(encodeFrame(REQ.credit, 0xdead, '', creditPayload(0xbeef)));
        taken.push({ id: frame?.id as number, credit: readCredit(frame?.payload as Uint8Array) });
      }
      expect(taken).toEqual(Array.from({ length: pushed }, (_, i) => ({ id: i, credit: 32 + i })));
      while (takeFrame(ring, r)) {
        // drain the peer's frames
      }
      expect(ring.tryPush(encodeFrame(REQ.call, 7, 'm', valueBytes))).toBe(true);
      const call = takeFrame(ring, r);
      while (ring.tryPush(encodeFrame(REQ.notify, 0, 'x', new Uint8Array(24).fill(0xff)))) {
        // the peer fills the ring again
      }
      expect(call).toMatchObject({ type: REQ.call, id: 7, name: 'm', failed: false });
      expect(call?.value).toEqual(value);
    },
  );
});
