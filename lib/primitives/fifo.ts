/**
 * Named pipes (fifo(7)): mkfifo(3), which Node's `fs` lacks, and ends opened
 * O_NONBLOCK and handed to Node's own `net.Socket`, so that libuv polls the
 * descriptor on the event loop: no libuv threadpool thread is ever held by an
 * open, a read or a write (unlike `fs.createReadStream` on a FIFO, whose
 * blocking open() parks a pool thread until a peer appears: nodejs/node#23220,
 * #3628). A writer with no reader yet (ENXIO) is retried on a timer with a
 * bounded back-off, with timeout and abort.
 *
 * Pipes carry bytes without message boundaries; {@link FrameEncoder} and
 * {@link FrameDecoder} (or `framed: true`) add a 4-byte little-endian length
 * before each message.
 */
import fs from 'node:fs';
import net from 'node:net';
import { pipeline, type Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { binding } from '../core/binding.js';
import { deadlineOf } from '../core/deadline.js';
import { AbortError, codedError, nameSystemError, systemError, timeoutError, withObjectName } from '../core/errors.js';
import { rejectControlCharacters } from '../core/names.js';
import { parseWaitOptions, parseWaitSyncOptions, type WaitOptions } from '../core/pending.js';
import {
  typeError,
  validateBoolean,
  validateInteger,
  validateMode,
  validateOptions,
  valueError,
} from '../core/validate.js';
import { FIFO_REGISTRY, pruneFifoRegistry, registerFifo } from './fifo-registry.js';

/** The default and largest frame a {@link FrameDecoder} accepts: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
const FRAME_LIMIT = 0xffffffff;

function validatePath(value: unknown, name = 'path'): string {
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
  if (value === '') throw valueError(name, 'must not be empty', value);
  if (value.includes('\0')) throw valueError(name, 'must not contain NUL bytes', value);
  rejectControlCharacters(value, name);
  return value;
}

/** Throws unless `fd` is a FIFO, closing it first. */
function requireFifo(fd: number, path: string): void {
  let isFifo = false;
  try {
    isFifo = fs.fstatSync(fd).isFIFO();
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  if (!isFifo) {
    fs.closeSync(fd);
    throw systemError('EINVAL', 'open', path, 'not a FIFO');
  }
}

export interface FifoReaderOptions {
  /** Emit whole length-prefixed messages (Buffers) instead of bytes. */
  framed?: boolean;
  /** With `framed`, the largest message accepted, in bytes (default 64 MiB). */
  maxMessageBytes?: number;
}

export interface FifoWriterOptions extends WaitOptions {
  /** Accept whole messages (Uint8Array or string) and write each length-prefixed. */
  framed?: boolean;
}

/**
 * Writes each message (a Uint8Array or string) as a 4-byte little-endian
 * length and the bytes. Object mode on the writable side.
 */
export class FrameEncoder extends Transform {
  constructor() {
    super({ writableObjectMode: true });
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    let bytes: Uint8Array;
    if (typeof chunk === 'string') bytes = Buffer.from(chunk, 'utf8');
    else if (chunk instanceof Uint8Array) bytes = chunk;
    else {
      callback(typeError('message', 'a Uint8Array, Buffer or string', chunk));
      return;
    }
    if (bytes.byteLength > FRAME_LIMIT) {
      callback(codedError('ERR_OUT_OF_RANGE', 'message is over 4 GiB - 1 bytes', RangeError));
      return;
    }
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32LE(bytes.byteLength, 0);
    this.push(header);
    if (bytes.byteLength > 0) this.push(Buffer.from(bytes)); // a copy: the caller may reuse its buffer
    callback();
  }
}

/**
 * Splits a byte stream written by a {@link FrameEncoder} back into messages
 * (Buffers). A frame over `maxMessageBytes`, or a stream ending mid-frame,
 * is an error with code 'ERR_SHMKIT_FRAME'.
 */
export class FrameDecoder extends Transform {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(options?: { maxMessageBytes?: number }) {
    super({ readableObjectMode: true });
    const opts = validateOptions(options);
    this.#max =
      opts.maxMessageBytes === undefined
        ? DEFAULT_MAX_FRAME_BYTES
        : validateInteger(opts.maxMessageBytes, 'options.maxMessageBytes', 0, FRAME_LIMIT);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#buffered < 4) break;
      const head = this.#peek(4);
      const length = head.readUInt32LE(0);
      if (length > this.#max) {
        callback(frameError(`a message of ${length} bytes is over maxMessageBytes (${this.#max})`));
        return;
      }
      if (this.#buffered < 4 + length) break;
      this.#take(4);
      this.push(this.#take(length));
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#buffered > 0) {
      callback(frameError(`the stream ended inside a message (${this.#buffered} bytes)`));
      return;
    }
    callback();
  }

  #peek(count: number): Buffer {
    if ((this.#chunks[0]?.length ?? 0) < count) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] as Buffer;
  }

  #take(count: number): Buffer {
    if (count === 0) return Buffer.alloc(0);
    const all = this.#peek(count);
    const out = all.subarray(0, count);
    if (all.length === count) this.#chunks.shift();
    else this.#chunks[0] = all.subarray(count);
    this.#buffered -= count;
    return out;
  }
}

function frameError(message: string): Error {
  return codedError('ERR_SHMKIT_FRAME', message);
}

/** Sleeps `ms`, or less if `signal` aborts; removes its listener either way. */
function sleep(ms: number, ref: boolean, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (!ref) timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

export { FIFO_REGISTRY };

/**
 * Named pipes (fifo(7), mkfifo(3)): a FIFO is a special file any process can
 * open by path, carrying a byte stream from writers to readers. All methods
 * are static: create/unlink the file, and open either end as a Node stream
 * (a `net.Socket` polled on the event loop, or with `framed: true` a stream
 * of whole messages). Sizes are in bytes, timeouts in milliseconds.
 *
 * Errors: system errors carry `code` (`EEXIST`, `ENOENT`, `EACCES`,
 * `EINVAL` for a path that is not a FIFO, `ETIMEDOUT`, …), `errno`, `syscall`
 * and `objectName` (the FIFO's path; errors from `fs` also keep their `path`);
 * an aborted wait for a reader rejects with an `AbortError`; bad arguments
 * throw TypeError/RangeError before any system call; a bad frame is
 * `ERR_SHMKIT_FRAME`.
 */
export class Fifo {
  private constructor() {}

  /**
   * Creates a FIFO special file (mkfifo(3)) with `mode` (default 0o600,
   * masked by the umask). Records its absolute path in {@link FIFO_REGISTRY}
   * for `shmkit ls`.
   * @throws `EEXIST` if the path exists; `ENOENT` if its directory does not; `EACCES`.
   */
  static create(path: string, options?: { mode?: number }): void {
    const file = validatePath(path);
    const opts = validateOptions(options);
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    binding.fifo.mkfifo(file, mode);
    registerFifo(file);
  }

  /**
   * Removes a FIFO (unlink(2)), refusing anything that is not one.
   * @throws `ENOENT`; `EINVAL` if `path` is not a FIFO.
   */
  static unlink(path: string): void {
    const file = validatePath(path);
    withObjectName(file, () => {
      if (!fs.lstatSync(file).isFIFO()) throw systemError('EINVAL', 'unlink', file, 'not a FIFO');
      fs.unlinkSync(file);
    });
    pruneFifoRegistry();
  }

  /**
   * Opens the read end (O_RDONLY|O_NONBLOCK: returns at once, with or without
   * a writer) as a `net.Socket` — or, with `framed`, a Readable of whole
   * messages. Reading starts when a writer connects; when the last writer
   * closes, the stream ends. The socket keeps the process alive while it
   * reads, like any socket: `unref()` it to let the process exit without a peer.
   * @throws `ENOENT`; `EACCES`; `EINVAL` if `path` is not a FIFO.
   */
  static openReader(path: string, options?: FifoReaderOptions): Readable {
    const file = validatePath(path);
    const opts = validateOptions(options);
    const framed = opts.framed === undefined ? false : validateBoolean(opts.framed, 'options.framed');
    const decoder = framed ? new FrameDecoder({ maxMessageBytes: opts.maxMessageBytes }) : undefined;
    const fd = withObjectName(file, () => fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    withObjectName(file, () => requireFifo(fd, file));
    const socket = new net.Socket({ fd, readable: true, writable: false });
    if (!decoder) return socket;
    pipeline(socket, decoder, () => {});
    return decoder;
  }

  /**
   * Opens the write end (O_WRONLY|O_NONBLOCK) as a `net.Socket` — or, with
   * `framed`, a Writable of whole messages. While no reader has the FIFO
   * open (ENXIO) it retries on a timer (1 ms doubling to 50 ms), never on a
   * thread. Once every reader closes, writes fail with an `EPIPE` stream
   * error (Node ignores SIGPIPE, so the process is not killed).
   * @throws (rejects) `ETIMEDOUT` when `timeoutMs` runs out with no reader; an `AbortError`;
   * `ENOENT`; `EACCES`; `EINVAL` if `path` is not a FIFO.
   */
  static async openWriter(path: string, options?: FifoWriterOptions): Promise<Writable> {
    const file = validatePath(path);
    const opts = parseWaitOptions(options);
    const framed = opts.framed === undefined ? false : validateBoolean(opts.framed, 'options.framed');
    const timeoutMs = parseWaitSyncOptions(opts);
    const { signal, ref = true } = opts;
    const deadline = deadlineOf(timeoutMs);
    let delay = 1;
    for (;;) {
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      let fd: number | undefined;
      try {
        fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ENXIO') throw nameSystemError(error, file);
      }
      if (fd !== undefined) {
        withObjectName(file, () => requireFifo(fd, file));
        const socket = new net.Socket({ fd, readable: false, writable: true });
        if (!framed) return socket;
        const encoder = new FrameEncoder();
        pipeline(encoder, socket, () => {});
        return encoder;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw timeoutError('open', file, timeoutMs);
      await sleep(Math.min(delay, left), ref, signal);
      delay = Math.min(delay * 2, 50);
    }
  }
}
