import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, Fifo, FrameDecoder, FrameEncoder } from '../lib/index.js';
import { runFixture, runPrefix } from './helpers.js';

let dir = '';
let counter = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix()}fifo-`));
});
afterAll(() => {
  // Every FIFO a test made was unlinked by the test itself.
  const left = fs.readdirSync(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(left).toEqual([]);
});

function fifo(): string {
  const file = path.join(dir, `f${counter++}`);
  Fifo.create(file);
  return file;
}

/**
 * Fails unless `promise` is still pending after its first try and a turn of
 * the event loop. openWriter() tries the open once before it returns, so a
 * pending writer is one that found no reader and is waiting for one (FIFO
 * opens have no other observable wait: the writer retries on timers).
 */
async function expectPending(promise: Promise<unknown>): Promise<void> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  expect(settled, 'openWriter() settled before a reader came').toBe(false);
}

function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return once(stream, 'end').then(() => Buffer.concat(chunks));
}

describe('Fifo', () => {
  it('create makes a FIFO with mode 0o600; EEXIST; unlink refuses what is not a FIFO', () => {
    const file = fifo();
    const stat = fs.statSync(file);
    expect(stat.isFIFO()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(() => Fifo.create(file)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'mkfifo' }));
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, 'x');
    expect(() => Fifo.unlink(plain)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => Fifo.openReader(plain)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    fs.rmSync(plain);
    Fifo.unlink(file);
    expect(fs.existsSync(file)).toBe(false);
    expect(() => Fifo.unlink(file)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => Fifo.openReader(file)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('a writer close gives the reader EOF; a reader close gives the writer EPIPE, not SIGPIPE', async () => {
    const file = fifo();
    const reader = Fifo.openReader(file);
    const writer = await Fifo.openWriter(file, { timeoutMs: 5000 });
    const received = collect(reader);
    writer.end('hello fifo');
    expect((await received).toString()).toBe('hello fifo');

    const reader2 = Fifo.openReader(file);
    const writer2 = await Fifo.openWriter(file, { timeoutMs: 5000 });
    reader2.destroy();
    await once(reader2, 'close');
    const failed = once(writer2, 'error');
    const timer = setInterval(() => writer2.write(Buffer.alloc(1024)), 5);
    const [error] = await failed;
    clearInterval(timer);
    expect(error).toMatchObject({ code: 'EPIPE' });
    Fifo.unlink(file);
  });

  it('openWriter waits for a reader, with timeout and abort', async () => {
    const file = fifo();
    await expect(Fifo.openWriter(file, { timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      syscall: 'open',
    });
    const controller = new AbortController();
    const aborted = Fifo.openWriter(file, { signal: controller.signal });
    await expectPending(aborted);
    controller.abort(new Error('no'));
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await expect(Fifo.openWriter(file, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const waiting = Fifo.openWriter(file, { timeoutMs: 10_000 });
    await expectPending(waiting);
    const reader = Fifo.openReader(file);
    const writer = await waiting;
    const received = collect(reader);
    writer.end('late');
    expect((await received).toString()).toBe('late');
    Fifo.unlink(file);
  });

  it('32 FIFOs waiting at once leave fs.promises.readFile free', async () => {
    const files = Array.from({ length: 32 }, () => fifo());
    const writers = files.map((file) => Fifo.openWriter(file, { timeoutMs: 20_000 }));
    const texts = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile(__filename, 'utf8')));
    expect(texts.every((text) => text.length > 0)).toBe(true);
    const readers = files.map((file) => Fifo.openReader(file));
    const received = readers.map((reader) => collect(reader));
    const opened = await Promise.all(writers);
    opened.forEach((writer, i) => {
      writer.end(`fifo ${i}`);
    });
    expect((await Promise.all(received)).map(String)).toEqual(files.map((_, i) => `fifo ${i}`));
    for (const file of files) Fifo.unlink(file);
  });

  it('a process waiting on FIFOs with no peer (ref: false, unref) can still exit', async () => {
    const writePath = fifo();
    const readPath = fifo();
    const { done } = runFixture('fifo-no-peer.mjs', [writePath, readPath]);
    const result = await done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.messages).toEqual([{ waiting: true }]);
    Fifo.unlink(writePath);
    Fifo.unlink(readPath);
  });

  it('streams 256 MiB from another process with a matching sha256', async () => {
    const file = fifo();
    const total = 256 * 1024 * 1024;
    const reader = Fifo.openReader(file);
    const { done } = runFixture('fifo-stream-writer.mjs', [file, String(total)]);
    const hash = createHash('sha256');
    let bytes = 0;
    reader.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    await once(reader, 'end');
    const result = await done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(bytes).toBe(total);
    expect(result.messages).toEqual([{ sha256: hash.digest('hex') }]);
    Fifo.unlink(file);
  });

  it('framed mode keeps message boundaries across processes', async () => {
    const file = fifo();
    const count = 500;
    const reader = Fifo.openReader(file, { framed: true });
    const { done } = runFixture('fifo-framed-writer.mjs', [file, String(count)]);
    let i = 0;
    let bad = 0;
    for await (const message of reader as AsyncIterable<Buffer>) {
      const expected = Buffer.alloc((i % 7) * 9973);
      for (let j = 0; j < expected.length; j++) expected[j] = (i + j) & 255;
      if (!message.equals(expected)) bad++;
      i++;
    }
    expect([i, bad]).toEqual([count, 0]);
    expect((await done).code).toBe(0);
    Fifo.unlink(file);
  });

  it('FrameDecoder refuses oversized and truncated frames', async () => {
    const encoder = new FrameEncoder();
    const decoder = new FrameDecoder({ maxMessageBytes: 4 });
    encoder.pipe(decoder);
    const errored = once(decoder, 'error');
    encoder.write('12345');
    expect((await errored)[0]).toMatchObject({ code: 'ERR_SHMKIT_FRAME' });
    const truncated = new FrameDecoder();
    const failed = once(truncated, 'error');
    truncated.end(Buffer.from([10, 0, 0, 0, 1, 2]));
    expect((await failed)[0]).toMatchObject({ code: 'ERR_SHMKIT_FRAME' });
    const ok = new FrameDecoder();
    const out: string[] = [];
    ok.on('data', (message: Buffer) => out.push(message.toString()));
    const enc = new FrameEncoder();
    enc.pipe(ok);
    for (const text of ['', 'a', 'bc']) enc.write(text);
    enc.end();
    await once(ok, 'end');
    expect(out).toEqual(['', 'a', 'bc']);
  });
});

describe('Fifo arguments', () => {
  it('rejects bad arguments with TypeError/RangeError naming them', async () => {
    expect(() => Fifo.create(1 as never)).toThrow(/"path"/);
    expect(() => Fifo.create('')).toThrow(TypeError);
    expect(() => Fifo.create('a\0b')).toThrow(/NUL/);
    expect(() => Fifo.create(path.join(dir, 'm'), { mode: 0o10000 })).toThrow(/"options.mode"/);
    expect(() => Fifo.unlink(null as never)).toThrow(TypeError);
    expect(() => Fifo.openReader(path.join(dir, 'x'), { framed: 'yes' as never })).toThrow(/"options.framed"/);
    expect(() => Fifo.openReader(path.join(dir, 'x'), { framed: true, maxMessageBytes: -1 })).toThrow(RangeError);
    await expect(Fifo.openWriter(path.join(dir, 'x'), { timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(Fifo.openWriter(path.join(dir, 'x'), { signal: 1 as never })).rejects.toThrow(/"options.signal"/);
    await expect(Fifo.openWriter(path.join(dir, 'x'), { ref: 1 as never })).rejects.toThrow(/"options.ref"/);
    await expect(Fifo.openWriter(path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    const encoder = new FrameEncoder();
    const failed = once(encoder, 'error');
    encoder.write(42);
    expect((await failed)[0]).toBeInstanceOf(TypeError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
