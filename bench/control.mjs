// The child's side of a benchmark child process (bench/child.mjs): control messages ({ ctl }) from the parent are
// queued for nextControl(); anything else is data (process.send transports).
// Errors go back as {ctl: 'error', message, verification} and end the process.

/** Sends a control message; resolves once it is written, so a sync loop after it cannot hold it back. */
export function send(message) {
  return new Promise((resolve, reject) => {
    process.send(message, (error) => (error ? reject(error) : resolve()));
  });
}

export function die(error) {
  const message = error instanceof Error ? `${error.message}${error.code ? ` (${error.code})` : ''}` : String(error);
  const verification = error?.name === 'VerificationError';
  if (process.connected) process.send({ ctl: 'error', message, verification }, () => process.exit(1));
  else process.exit(1);
}

const inbox = [];
let waiting;
let onData = () => {};

/** Installs the process handlers; data messages go to `handler` (ignored by default; see setDataHandler). */
export function listenForControl(handler = onData) {
  onData = handler;
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message) => {
    if (message === null || typeof message !== 'object' || typeof message.ctl !== 'string') {
      onData(message);
      return;
    }
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve(message);
    } else inbox.push(message);
  });
}

export function setDataHandler(handler) {
  onData = handler;
}

export function nextControl() {
  if (inbox.length > 0) return Promise.resolve(inbox.shift());
  return new Promise((resolve) => {
    waiting = resolve;
  });
}

/** A producer's loop: 'ready', then for every 'go' {run, count}: produce(count), then 'sent'; stops on anything else. */
export async function serveProducer(produce) {
  await send({ ctl: 'ready' });
  for (;;) {
    const message = await nextControl();
    if (message.ctl !== 'go') break;
    await produce(message.count);
    await send({ ctl: 'sent', run: message.run });
  }
}
