// A child of the NATS rows (bench/nats.mjs): one "host" end. cfg (argv[2]): { role, url,
// subject, size?, name?, ackEvery? }. Roles:
//   'sub-plain'   nc.subscribe(subject): checks every message in order, acks every ackEvery ({ ack })
//   'sub-bridge'  bridgeTopic(name, nc, { direction: 'in' }) into a local Topic, and a subscriber
//                 of that topic in this process: checks and acks the same way
//   'bridge-out'  bridgeTopic(name, nc, { direction: 'out' }): a local Topic's messages to NATS
//   'responder'   nc.subscribe(subject) answering { a, b } with a + b (msgpack): plain request/reply
//   'service'     a Service with add({ a, b }) exposed on NATS (exposeService)
// 'ready' once it serves; { ctl: 'run', end } sets where a run ends ('done' when the message before
// it has arrived); anything else, or a lost parent, ends it.
import { pack, unpack } from 'msgpackr';
import * as shmkit from 'shmkit';
import { die, listenForControl, nextControl, send } from './control.mjs';
import { VerificationError, verifyBytes } from './message.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');

let expected = 0;
let runEnd = -1;

/** Message `bytes` arrived: checked, counted, acknowledged every ackEvery. */
function take(bytes) {
  const seq = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  if (seq !== expected) {
    throw new VerificationError(`expected message ${expected}, got sequence number ${seq} (lost or reordered)`);
  }
  verifyBytes(bytes, cfg.size, seq);
  expected = seq + 1;
  if (expected % cfg.ackEvery === 0) process.send({ ack: expected });
  if (expected === runEnd) void send({ ctl: 'done' });
}

async function runs() {
  for (;;) {
    const message = await nextControl();
    if (message.ctl !== 'run') process.exit(0);
    runEnd = message.end;
    if (expected === runEnd) await send({ ctl: 'done' });
  }
}

async function serve(nc) {
  const remote = await import('shmkit/nats');
  if (cfg.role === 'sub-plain') {
    // The client catches what a callback throws (and closes the subscription): fail the row here.
    nc.subscribe(cfg.subject, {
      callback: (error, msg) => {
        try {
          if (error) throw error;
          take(msg.data);
        } catch (failure) {
          die(failure);
        }
      },
    });
  } else if (cfg.role === 'sub-bridge') {
    await remote.bridgeTopic(cfg.name, nc, {
      subject: cfg.subject,
      direction: 'in',
      codec: 'raw',
      topic: { capacityBytes: 1 << 22 },
    });
    // The parent removes the topic the bridge made: this child is killed, not stopped.
    const sub = shmkit.Topic.subscribe(cfg.name, { codec: 'raw' });
    void (async () => {
      for (;;) {
        const step = sub.tryNext() ?? (await sub.next());
        if (step.done) return;
        take(step.value);
      }
    })().catch(die);
  } else if (cfg.role === 'bridge-out') {
    await remote.bridgeTopic(cfg.name, nc, { subject: cfg.subject, direction: 'out', codec: 'raw' });
  } else if (cfg.role === 'responder') {
    nc.subscribe(cfg.subject, {
      callback: (error, msg) => {
        if (error) return die(error);
        const { a, b } = unpack(msg.data);
        msg.respond(pack(a + b));
      },
    });
  } else {
    const svc = shmkit.Service.create(cfg.name);
    svc.handle('add', ({ a, b }) => a + b);
    await svc.listen();
    await remote.exposeService(svc, nc, { subject: cfg.subject });
  }
  await nc.flush();
}

try {
  listenForControl();
  const nats = await import('nats');
  const nc = await nats.connect({ servers: cfg.url });
  await serve(nc);
  await send({ ctl: 'ready' });
  await runs();
} catch (error) {
  die(error);
}
