// Lab 2: a FIFO (named pipe) between two unrelated processes.
//   node labs/02-fifo/main.mjs
//
// This process is the writer. The reader is a separate program that only
// knows the FIFO's path: no inherited descriptor, no parent/child plumbing.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Fifo } from 'shmkit';

const log = (...args) => console.log(`[writer ${process.pid}]`, ...args);
const fifoPath = path.join(os.tmpdir(), `lab02-${process.pid}.fifo`);

// The reader runs with stdout inherited, so its trace lines appear with ours.
function startReader(mode) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./reader.mjs', import.meta.url)), mode, fifoPath], {
    stdio: 'inherit',
  });
  return { child, exited: once(child, 'exit') };
}

// A write stream's end() resolves once the bytes are handed to the kernel.
const finish = (stream) => new Promise((resolve, reject) => stream.end(resolve).once('error', reject));

Fifo.create(fifoPath); // mkfifo(3): a file of type "p" with no data blocks
log(`mkfifo ${fifoPath}`);
try {
  // 1. open(2) of a FIFO blocks until the other side opens it too.
  log('--- part 1: open blocks until the peer arrives; EOF ---');
  const first = startReader('plain');
  await sleep(500); // the reader is now asleep inside open(2)
  log('opening for writing now (500 ms after the reader started)');
  const writer = await Fifo.openWriter(fifoPath, { timeoutMs: 5000 });
  writer.write('line one\n');
  writer.write('line two\n');
  await finish(writer); // closing the last write end = EOF for the reader
  log('wrote 2 lines and closed my end');
  await first.exited;

  // 2. Writing when nobody reads any more: EPIPE.
  log('--- part 2: EPIPE ---');
  const second = startReader('once');
  const lonely = await Fifo.openWriter(fifoPath, { timeoutMs: 5000 });
  lonely.write('are you there?\n');
  await second.exited; // the reader read one message and exited
  log('the reader has exited; writing again');
  lonely.write('hello?\n');
  const [error] = await once(lonely, 'error');
  log(`write failed: ${error.code} (no reader left; the kernel also raised SIGPIPE, which Node ignores)`);
  lonely.destroy();

  // 3. A FIFO is a byte stream like any pipe; framing puts boundaries back.
  log('--- part 3: framed messages ---');
  const third = startReader('framed');
  const framed = await Fifo.openWriter(fifoPath, { framed: true, timeoutMs: 5000 });
  for (const message of ['hello', 'x'.repeat(100_000), 'bye']) {
    framed.write(message); // 4-byte little-endian length, then the bytes
    log(`sent a framed message of ${message.length} bytes`);
  }
  await finish(framed);
  await third.exited;
} finally {
  Fifo.unlink(fifoPath);
  log(`removed ${fifoPath}`);
}
