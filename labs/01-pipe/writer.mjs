// The writing end of lab 1. Writes with fs.writeSync(1, …): one write(2) each.
// It logs to stderr, because stdout (fd 1) IS the pipe.
// (Never touch process.stdout here: Node would switch fd 1 to non-blocking mode.)
import fs from 'node:fs';

const mode = process.argv[2];
const log = (...args) => console.error(`[writer ${process.pid}]`, ...args);
const kind = (fd) =>
  fs.fstatSync(fd).isFIFO() ? 'a FIFO (a real pipe)' : fs.fstatSync(fd).isSocket() ? 'a socket' : 'a file';

if (mode === 'probe') {
  log(`child_process stdio 'pipe': my fd 0 is ${kind(0)} (libuv uses socketpair(2))`);
  process.exit(0);
}
log(`my fd 1 is ${kind(1)}`);

if (mode === 'boundaries') {
  for (const text of ['hello\n', 'from\n', 'the pipe\n']) {
    fs.writeSync(1, text);
    log(`write(1, ${JSON.stringify(text)}) -> ${text.length} bytes`);
  }
  log('3 write() calls done; exiting closes the write end');
  fs.writeFileSync(process.env.LAB01_READY, ''); // tell the reader: the data is in the pipe
}

if (mode === 'full') {
  const chunk = Buffer.alloc(4096, 'x');
  let written = 0;
  for (let i = 1; i <= 32; i++) {
    const started = performance.now();
    // If the pipe has no room, write(2) puts this process to sleep in the
    // kernel (pipe_write) until the reader frees a page.
    if (i === 17) fs.writeFileSync(process.env.LAB01_READY, ''); // 64 KiB are in: the pipe is full
    fs.writeSync(1, chunk);
    const waited = performance.now() - started;
    written += chunk.length;
    if (waited > 100) log(`write #${i} slept ${Math.round(waited)} ms in the kernel: the pipe was full`);
    if (written % 16384 === 0) log(`${written} bytes written so far`);
  }
  log(`all ${written} bytes written; exiting`);
}
