// Lab 8 producer: pushes 8 messages of 12 bytes (a 24-byte frame each).
import { RingBuffer } from 'shmkit';

const log = (...args) => console.log(`[producer ${process.pid}]`, ...args);
const ring = RingBuffer.open(process.argv[2]);
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

for (const [i, word] of words.entries()) {
  const text = `${i + 1}:${word}`.padEnd(12, '.');
  const bytes = new TextEncoder().encode(text);
  // tryPush never waits; when the ring is full we block in pushSync, which
  // spins briefly and then sleeps on a futex until the consumer moves head.
  if (!ring.tryPush(bytes)) {
    log(`ring full for ${JSON.stringify(text)}: sleeping until the consumer frees space`);
    ring.pushSync(bytes, { timeoutMs: 5000 });
  }
  // The payload is copied first; `tail` is stored last (Atomics.store), so the
  // consumer can never see a tail that covers a half-written message.
  log(`pushed ${JSON.stringify(text)}`);
}
ring.close();
