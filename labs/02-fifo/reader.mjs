// The reader of lab 2: node reader.mjs plain|once|framed FIFO_PATH
import fs from 'node:fs';
import { Fifo } from 'shmkit';

const [mode, fifoPath] = process.argv.slice(2);
const log = (...args) => console.log(`[reader ${process.pid}]`, ...args);

if (mode === 'plain') {
  log('open(fifo, O_RDONLY): blocks until a writer opens it');
  const started = performance.now();
  // A plain blocking open: this whole process sleeps in the kernel here.
  const fd = fs.openSync(fifoPath, 'r');
  log(`open() returned after ${Math.round(performance.now() - started)} ms: a writer arrived`);
  const buffer = Buffer.alloc(4096);
  for (;;) {
    const got = fs.readSync(fd, buffer, 0, buffer.length, null);
    if (got === 0) {
      log('read() returned 0: EOF, the last writer closed its end');
      break;
    }
    log(`read() returned ${got} bytes: ${JSON.stringify(buffer.toString('utf8', 0, got))}`);
  }
  fs.closeSync(fd);
}

if (mode === 'once') {
  const fd = fs.openSync(fifoPath, 'r');
  const buffer = Buffer.alloc(4096);
  const got = fs.readSync(fd, buffer, 0, buffer.length, null);
  log(`read ${JSON.stringify(buffer.toString('utf8', 0, got))}, then exiting without reading more`);
  fs.closeSync(fd);
}

if (mode === 'framed') {
  // shmkit's reader opens with O_NONBLOCK and lets the event loop poll it.
  const reader = Fifo.openReader(fifoPath, { framed: true });
  let count = 0;
  for await (const message of reader) {
    count++;
    log(`message ${count}: ${message.length} bytes, starts with ${JSON.stringify(message.toString('utf8', 0, 5))}`);
  }
  log(`end of stream after ${count} messages`);
}
