// The reading end of lab 1: sleeps first (a slow consumer), then reads fd 0
// with fs.readSync, one read(2) each, until read() returns 0 (end of file).
import fs from 'node:fs';

const mode = process.argv[2];
const log = (...args) => console.log(`[reader ${process.pid}]`, ...args);
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

// Wait until the writer says its data is in the pipe, then (for 'full') a
// little longer, so the blocked writer is seen sleeping in the kernel.
while (!fs.existsSync(process.env.LAB01_READY)) sleepSync(5);
const pause = mode === 'full' ? 500 : 0;
log(`the writer's data is in the pipe; sleeping ${pause} ms more before the first read()`);
sleepSync(pause);

const buffer = Buffer.alloc(1 << 20); // ask for up to 1 MiB per read()
let total = 0;
for (let n = 1; ; n++) {
  const got = fs.readSync(0, buffer, 0, buffer.length, null);
  if (got === 0) {
    log(`read() #${n} returned 0: end of file, every writer has closed; ${total} bytes in ${n - 1} read() call(s)`);
    break;
  }
  total += got;
  if (mode === 'boundaries') {
    log(`read() #${n} returned ${got} bytes: ${JSON.stringify(buffer.toString('utf8', 0, got))}`);
  } else if (n === 1) {
    log(`read() #1 returned ${got} bytes: everything the pipe could hold (pipe capacity)`);
  }
}
