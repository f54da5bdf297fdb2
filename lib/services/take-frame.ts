/**
 * Reading frames off a connection's ring without a copy of each message:
 * the frame is read where it lies in the ring (peek), its value decoded from
 * there, and the ring's space released before anything else runs. A copy per
 * message (tryPop) cost an allocation, and its payload view (a subarray of a
 * small on-heap array) made V8 move that array off the heap — together the
 * largest allocation cost per call in the pipelined bench's profiles.
 */
import type { ResolvedCodec } from '../structures/codecs.js';
import type { RingBuffer } from '../structures/ring/ring-buffer.js';
import { decodeFrame, type Frame } from './format.js';

/** A frame that owns everything it holds: nothing of it points into the ring. */
export interface TakenFrame extends Frame {
  /** The frame's size in bytes (head, name and payload). */
  size: number;
  /** For a frame that carries a value: the decoded value. */
  value: unknown;
  /** For a frame that carries a value: true if the codec could not decode it (`failure` says why). */
  failed: boolean;
  failure: unknown;
}

/** How a side reads its frames: which types carry a value of the codec, and the codec's decode. */
export interface FrameReader {
  /** Bit `1 << type` set for each frame type whose payload is a value of the codec. */
  readonly valueTypes: number;
  readonly codec: ResolvedCodec<unknown>;
  /** Names the connection in decode errors (the codec's `queueName`). */
  readonly name: string;
  /** Names the reading object in decode errors, e.g. "Service '/calc'". */
  readonly owner: string;
  /** Bit `1 << type` set for each frame type whose empty payload means undefined without asking the codec (the client's answers). */
  readonly undefinedWhenEmpty: number;
}

/**
 * Takes the next frame off `ring`: undefined if it is empty, null if the
 * bytes are not a frame (a peer wrote garbage; the message is gone either
 * way). Throws what peek() throws (a ring the peer corrupted). Read in place
 * only with a codec that decodes from a view ('json', 'msgpack': no user
 * code runs while the view is held); any other codec gets its own copy
 * first (tryPop), as its decode is the caller's code.
 */
export function takeFrame(ring: RingBuffer, reader: FrameReader): TakenFrame | null | undefined {
  if (!reader.codec.decodesFromView) {
    const bytes = ring.tryPop();
    return bytes === undefined ? undefined : ownFrame(bytes, reader);
  }
  const view = ring.peek();
  if (view === undefined) return undefined;
  try {
    return own(view, reader, true);
  } finally {
    ring.release();
  }
}

/** Reads a frame from bytes the caller owns (a message pop() returned). */
export function ownFrame(bytes: Uint8Array, reader: FrameReader): TakenFrame | null {
  return own(bytes, reader, false);
}

/** `inRing`: `bytes` is a view into the ring, released once this returns — keep nothing of it. */
function own(bytes: Uint8Array, reader: FrameReader, inRing: boolean): TakenFrame | null {
  const frame = decodeFrame(bytes) as TakenFrame | undefined;
  if (!frame) return null;
  frame.size = bytes.length;
  frame.value = undefined;
  frame.failed = false;
  frame.failure = undefined;
  const payload = frame.payload;
  if ((reader.valueTypes & (1 << frame.type)) === 0) {
    // A control frame (hello, credit, a closed reason…): small; copied out of the ring.
    if (inRing) frame.payload = payload.slice();
    return frame;
  }
  frame.payload = EMPTY;
  if (payload.length === 0 && (reader.undefinedWhenEmpty & (1 << frame.type)) !== 0) return frame;
  try {
    frame.value = reader.codec.decode(payload, reader.name, reader.owner);
  } catch (error) {
    frame.failed = true;
    frame.failure = error;
  }
  return frame;
}

const EMPTY = new Uint8Array(0);
