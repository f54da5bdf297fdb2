// A subscriber child of the fan-out rows (bench/fanout.mjs). cfg (argv[2]):
// { role: 'fanout-sub', kind: 'fan-ipc' | 'fan-uds' | 'fan-topic', size, index, path? (the
// publisher's socket), name? (the topic), policy? }. It checks every message it gets (the
// byte rows' stamp and sampled body, bench/message.mjs) and that their sequence numbers only
// go up by one — or, under 'drop-oldest', by one plus exactly what the topic said it skipped.
// Control ({ ctl }) over the IPC channel: 'ready' once it can receive; the parent's
// { ctl: 'run', end } says where the run ends; { ctl: 'done', delivered, skipped } once it has
// the message before `end`. For the socket and process.send rows it acknowledges every
// `ackEvery` messages ({ ack: seq }, not a control message) so the publisher keeps a bounded
// window per subscriber, as a real fan-out over those must.
import net from 'node:net';
import * as shmkit from 'shmkit';
import { die, listenForControl, nextControl, send } from './control.mjs';
import { VerificationError, verifyAt, verifyBytes, verifyString } from './message.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { size } = cfg;

let expected = 0; // the next sequence number
let runEnd = -1; // the run ends before this one
let delivered = 0;
let skipped = 0;
let announced = 0; // skips the topic announced ('lagged')

/** A message `seq` arrived (verified by the caller). */
function take(seq) {
  if (seq !== expected) {
    if (cfg.policy !== 'drop-oldest' || seq < expected) {
      throw new VerificationError(`expected message ${expected}, got sequence number ${seq} (lost or reordered)`);
    }
    skipped += seq - expected;
    if (skipped !== announced) {
      throw new VerificationError(`skipped ${skipped} messages, but the topic announced ${announced}`);
    }
  }
  expected = seq + 1;
  delivered++;
  if (cfg.ackEvery && expected % cfg.ackEvery === 0) process.send({ ack: expected });
  if (expected === runEnd) finish();
}

function finish() {
  const report = { ctl: 'done', delivered, skipped };
  delivered = 0;
  skipped = 0;
  announced = 0;
  void send(report);
}

/** Control from the parent: 'run' sets the end; anything else ends the child. */
async function control() {
  for (;;) {
    const message = await nextControl();
    if (message.ctl !== 'run') process.exit(0);
    runEnd = message.end;
    if (expected === runEnd) finish();
  }
}

function onString(message) {
  const seq = Number.parseInt(String(message).slice(0, 8), 16);
  verifyString(message, size, seq);
  take(seq);
}

/** Length-prefixed frames (u32 LE length, then the message) from the publisher's socket. */
function readSocket(path) {
  const socket = net.connect(path);
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    try {
      let buf = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      let at = 0;
      while (buf.length - at >= 4) {
        const length = buf.readUInt32LE(at);
        if (buf.length - at - 4 < length) break;
        const seq = buf.readUInt32LE(at + 4);
        verifyAt(buf, at + 4, length, size, seq);
        take(seq);
        at += 4 + length;
      }
      buf = buf.subarray(at);
      pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
    } catch (error) {
      die(error);
    }
  });
  socket.on('error', die);
  return new Promise((resolve) => socket.once('connect', resolve));
}

/** The topic's messages, as fast as they come: tryNext while there are some, next() to wait. */
async function readTopic(name) {
  const sub = shmkit.Topic.subscribe(name, { codec: 'raw', from: 'now' });
  sub.on('lagged', (count) => {
    announced += count;
  });
  await send({ ctl: 'ready' });
  const check = (bytes) => {
    const seq = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
    verifyBytes(bytes, size, seq);
    take(seq);
  };
  for (;;) {
    // 'block': read in place (peek/release; no copy, as the socket rows read frames out of the
    // chunk they received). 'drop-oldest' copies (tryNext): a lapped view may be torn.
    if (cfg.policy === 'block') {
      const view = sub.peek();
      if (view !== undefined) {
        check(view);
        sub.release();
        continue;
      }
    } else {
      const step = sub.tryNext();
      if (step !== undefined) {
        if (step.done) return;
        check(step.value);
        continue;
      }
    }
    const step = await sub.next(); // nothing there now: wait (and take one, copied)
    if (step.done) return;
    check(step.value);
  }
}

try {
  listenForControl(cfg.kind === 'fan-ipc' ? onString : undefined);
  void control().catch(die);
  if (cfg.kind === 'fan-ipc') await send({ ctl: 'ready' });
  else if (cfg.kind === 'fan-uds') {
    await readSocket(cfg.path);
    await send({ ctl: 'ready' });
  } else await readTopic(cfg.name);
} catch (error) {
  die(error);
}
