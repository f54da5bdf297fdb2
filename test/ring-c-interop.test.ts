/**
 * Node and C exchange messages through the same ring, following the public
 * format (docs/ring-format.md) with native/include/shmkit/ring.h on the C side.
 * The C tools are built on first use (test/c-tools.ts).
 */
import { spawn } from 'node:child_process';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RingBuffer } from '../lib/index.js';
import { ringTools } from './c-tools.js';
import { requireOrSkip, track, uniqueName } from './helpers.js';

let tools: { paths?: Record<string, string>; why?: string } = {};
beforeAll(async () => {
  tools = await ringTools();
});

/** Message i of `size` bytes as ring_tool.h defines it: u64 i little-endian, then (i*31 + j) & 0xff. */
function pattern(i: number, size: number): Uint8Array {
  const message = new Uint8Array(size);
  const id = new Uint8Array(8);
  new DataView(id.buffer).setBigUint64(0, BigInt(i), true);
  message.set(id.subarray(0, Math.min(8, size)));
  for (let j = 8; j < size; j++) message[j] = (i * 31 + j) & 0xff;
  return message;
}

function runTool(tool: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(tools.paths?.[tool] ?? tool, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    // 'close', not 'exit': only then has all of the child's output been read.
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A ring for one test, removed when it finishes. */
const cring = (options: Parameters<typeof RingBuffer.create>[1]) =>
  track(RingBuffer.create(uniqueName('cring'), options), RingBuffer);

describe('RingBuffer <-> C (ring.h)', () => {
  // In CI a missing tool fails every test here (see requireOrSkip).
  beforeEach((ctx) => requireOrSkip(ctx, tools.paths !== undefined, `the C ring tools (${tools.why})`));

  it.each([
    [64, 100_000],
    [65_536, 500],
  ])('Node produces %i-byte messages, C consumes and verifies %i of them', async (size, count) => {
    const ring = cring({ capacityBytes: 1 << 18 });
    const consumer = runTool('ring_consumer', [ring.name, String(count), '--timeout', '20000']);
    for (let i = 0; i < count; i++) {
      const message = pattern(i, size);
      if (!ring.tryPush(message)) await ring.push(message, { timeoutMs: 20_000 });
    }
    const result = await consumer;
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`ok ${count} ${count * size}`);
    expect(result.code).toBe(0);
  });

  it.each([
    [64, 100_000],
    [65_536, 500],
  ])('C produces %i-byte messages, Node consumes and verifies %i of them', async (size, count) => {
    const ring = cring({ capacityBytes: 1 << 18 });
    const producer = runTool('ring_producer', [ring.name, String(count), String(size), '--timeout', '20000']);
    let mismatches = 0;
    for (let i = 0; i < count; i++) {
      const message = ring.tryPop() ?? (await ring.pop({ timeoutMs: 20_000 }));
      if (Buffer.compare(message, pattern(i, size)) !== 0) mismatches++;
    }
    const result = await producer;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(mismatches).toBe(0);
    expect(ring.tryPop()).toBeUndefined();
  });

  it("--sampled (the bench's floor): the C consumer checks stamps and sampled bytes, and a corrupt body fails it", async () => {
    // The format of ring_tool.h's --sampled: body byte j = (j*7 + 3) & 255, i as a
    // little-endian u64 in the first 8 bytes, ~i in the last 8.
    const size = 4096;
    const sampled = (i: number, corrupt: boolean) => {
      const message = new Uint8Array(size);
      for (let j = 0; j < size; j++) message[j] = corrupt ? 0 : (j * 7 + 3) & 255;
      const view = new DataView(message.buffer);
      view.setBigUint64(0, BigInt(i), true);
      view.setBigUint64(size - 8, ~BigInt(i) & 0xffff_ffff_ffff_ffffn, true);
      return message;
    };
    for (const corruptAt of [undefined, 5]) {
      const ring = cring({ capacityBytes: 1 << 16 });
      const consumer = runTool('ring_consumer', [ring.name, '10', '--sampled', '--timeout', '20000']);
      for (let i = 0; i < 10; i++) {
        const message = sampled(i, i === corruptAt);
        if (!ring.tryPush(message)) await ring.push(message, { timeoutMs: 20_000 });
      }
      const result = await consumer;
      if (corruptAt === undefined) {
        expect(result.stderr).toBe('');
        expect(result.stdout.trim()).toBe(`ok 10 ${10 * size}`);
        expect(result.code).toBe(0);
      } else {
        expect(result.stderr).toMatch(/^message 5 \(4096 bytes\): byte \d+ is wrong \(sampled check\)/);
        expect(result.code).toBe(1);
      }
    }
  });

  it('C and Node producers share a multi-producer ring with a C consumer', async () => {
    const ring = cring({ capacityBytes: 1 << 16, producers: 'multi', consumers: 'multi' });
    const each = 20_000;
    const consumer = runTool('ring_consumer', [ring.name, String(2 * each), '--any-order', '--timeout', '20000']);
    const producer = runTool('ring_producer', [ring.name, String(each), '64', '--timeout', '20000']);
    for (let i = 0; i < each; i++) {
      const message = pattern(i, 64);
      if (!ring.tryPush(message)) await ring.push(message, { timeoutMs: 20_000 });
    }
    const [produced, consumed] = await Promise.all([producer, consumer]);
    expect(produced.code).toBe(0);
    expect(consumed.stderr).toBe('');
    expect(consumed.stdout.trim()).toBe(`ok ${2 * each} ${2 * each * 64}`);
  });
});
