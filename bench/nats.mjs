// The NATS rows of `shmkit bench` (--nats): what shmkit/nats's bridges cost over the plain `nats`
// client doing the same work, in one run, against a nats-server this process starts on 127.0.0.1
// (bench/nats-server.mjs). Two pairs of rows:
//   throughput, 64 B messages, every one checked in order by the receiving "host" process:
//     nats-plain   this process nc.publish()es, a child nc.subscribe()s
//     nats-bridge  this process publishes into a local Topic; a child bridges it out to NATS
//                  (bridgeTopic 'out'), another bridges it in (bridgeTopic 'in') to a Topic of
//                  its own and reads it — the same hop between two hosts, through shared memory
//                  at both ends
//   round trips, one call at a time, add({ a, b }) answered with a + b (msgpack both):
//     nats-request nc.request() to a child answering from nc.subscribe()
//     nats-svc     connectService(nc, subject).call('add', …) to a child's Service exposed on NATS
// The bridge's cost is each pair's ratio (issue 15's goal: ≤ 1.3× the plain client's). Core NATS
// drops messages for a slow consumer, so both publishers keep a bounded window the receiver
// acknowledges (over its IPC channel). See docs/benchmarks.md, "NATS rows".
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack, unpack } from 'msgpackr';
import * as shmkit from 'shmkit';
import { forkChild } from './fork.mjs';
import { spread } from './format.mjs';
import { percentilesUs } from './histogram.mjs';
import { dropHook, failure, makeTemplate, stamp, VerificationError } from './message.mjs';
import { NatsServer } from './nats-server.mjs';
import { measureSteady } from './steady.mjs';

const HOST = join(dirname(fileURLToPath(import.meta.url)), 'nats-host.mjs');
/** Bytes of a throughput row's message. */
export const NATS_SIZE = 64;
/** Messages per throughput run at least (steady), and exactly (--quick without --count). */
export const NATS_COMMON = 20_000;
/** Messages the publisher may be ahead of the receiver's last acknowledgement. */
const WINDOW = 4096;

const LABELS = {
  'nats-plain': 'nats publish → subscribe',
  'nats-bridge': 'Topic → bridge → NATS → bridge → Topic',
  'nats-request': 'nats request/reply',
  'nats-svc': 'connectService → exposeService',
};

/**
 * The --nats rows: { status, reason?, throughput: [plain, bridge], latency: [request, svc] }, each
 * row { primitive, label, status, … }: throughput rows msgsPerSec { median, min, max } and runs;
 * latency rows the percentiles in µs. cost (bridge, svc) = the plain row's rate ÷ its rate, or its
 * p50 ÷ the plain p50: what the bridge costs over the plain client (1 = nothing).
 */
export async function natsCase(res, options, progress = {}) {
  const out = { primitive: 'nats', label: 'shmkit/nats against the plain nats client', status: 'ok' };
  let nats;
  try {
    nats = await import('nats');
    await import('shmkit/nats');
  } catch (error) {
    return {
      ...out,
      status: 'skipped',
      reason: `the nats client is not installed (npm install nats): ${error.message}`,
    };
  }
  const server = await NatsServer.start();
  if (typeof server === 'string') return { ...out, status: 'skipped', reason: server };
  res.track(() => void server.stop()); // should this process be interrupted before the finally below
  let nc;
  try {
    nc = await nats.connect({ servers: server.url });
    const step = (text) => progress.step?.(`NATS ${text}`);
    const throughput = [];
    for (const id of ['nats-plain', 'nats-bridge'])
      throughput.push(await throughputRow(res, id, nc, server, options, step));
    const latency = [];
    for (const id of ['nats-request', 'nats-svc']) latency.push(await latencyRow(res, id, nc, server, options, step));
    const [plain, bridge] = throughput;
    if (plain.msgsPerSec && bridge.msgsPerSec) bridge.cost = plain.msgsPerSec.median / bridge.msgsPerSec.median;
    const [request, svc] = latency;
    if (request.p50Us && svc.p50Us) svc.cost = svc.p50Us / request.p50Us;
    const failed = [...throughput, ...latency].find((row) => row.status !== 'ok');
    if (failed) Object.assign(out, { status: failed.status, reason: failed.reason });
    return { ...out, throughput, latency };
  } catch (error) {
    return { ...out, ...failure(error) }; // the connection itself failed: the rows cannot run
  } finally {
    await nc?.close();
    await server.stop();
  }
}

function row(id) {
  return {
    primitive: id,
    label: LABELS[id],
    group: id.endsWith('plain') || id.endsWith('request') ? 'node' : 'shmkit',
    status: 'ok',
  };
}

/** Forks a host child and waits until it serves. */
async function host(res, cfg, onData) {
  const child = forkChild(HOST, res.children, cfg, { onData });
  await child.expect('ready', 30_000);
  return child;
}

/** One throughput row: a warm-up until the rate is stable, then options.repeat runs (bench/steady.mjs). */
async function throughputRow(res, id, nc, server, options, step) {
  const out = { ...row(id), size: NATS_SIZE, runs: [] };
  const children = [];
  try {
    const subject = `shmkit.bench.${process.pid}.${id}`;
    let acked = 0;
    let onAck = () => {};
    const ackEvery = WINDOW / 4;
    const cfg = { url: server.url, subject, size: NATS_SIZE, ackEvery };
    const data = (m) => {
      if (typeof m?.ack === 'number') {
        acked = m.ack;
        onAck();
      }
    };
    let publish;
    if (id === 'nats-plain') {
      children.push(await host(res, { ...cfg, role: 'sub-plain' }, data));
      publish = (bytes) => nc.publish(subject, bytes.slice()); // the client sends later: its own copy
    } else {
      const nameB = res.name();
      res.track(() => shmkit.Topic.unlink(nameB));
      children.push(await host(res, { ...cfg, role: 'sub-bridge', name: nameB }, data));
      const nameA = res.name();
      res.track(() => shmkit.Topic.unlink(nameA));
      const topic = shmkit.Topic.create(nameA, { codec: 'raw', capacityBytes: 1 << 22 });
      res.track(() => topic.close());
      children.push(await host(res, { ...cfg, role: 'bridge-out', name: nameA }, undefined));
      publish = (bytes) => topic.publishSync(bytes, { timeoutMs: 30_000 });
    }
    const guard = Promise.race(children.map((child) => child.dead));
    guard.catch(() => {});
    const bytes = makeTemplate(NATS_SIZE);
    const drop = dropHook(id); // SHMKIT_BENCH_DROP=<id>: message 2 is never published; the receiver must fail
    let seq = 0;
    const runOnce = async (count) => {
      const end = seq + count;
      for (const child of children) child.send({ ctl: 'run', end });
      const t0 = performance.now();
      for (; seq < end; seq++) {
        if (seq - acked >= WINDOW) {
          await Promise.race([new Promise((resolve) => (onAck = () => seq - acked < WINDOW && resolve())), guard]);
          onAck = () => {};
        }
        stamp(bytes, 0, NATS_SIZE, seq);
        if (!drop(seq)) publish(bytes);
      }
      await Promise.race([children[0].expect('done', 60_000), guard]);
      return { seconds: (performance.now() - t0) / 1000 };
    };
    const measured = await measureSteady(runOnce, {
      common: NATS_COMMON,
      options,
      step: (t) => step(`${out.label} ${t}`),
    });
    out.count = measured.count;
    if (measured.stable !== undefined) out.stable = measured.stable;
    for (const { seconds } of measured.runs)
      out.runs.push({ count: measured.count, seconds, msgsPerSec: measured.count / seconds });
    out.msgsPerSec = spread(out.runs.map((r) => r.msgsPerSec));
  } catch (error) {
    Object.assign(out, failure(error));
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
  return out;
}

/** One round-trip row: options.repeat runs of options.rounds calls, after a tenth of them to warm up. */
async function latencyRow(res, id, nc, server, options, step) {
  const out = row(id);
  let child;
  try {
    const subject = `shmkit.bench.${process.pid}.${id}`;
    const cfg = { url: server.url, subject };
    let call;
    if (id === 'nats-request') {
      child = await host(res, { ...cfg, role: 'responder' });
      call = async (a, b) => unpack((await nc.request(subject, pack({ a, b }), { timeout: 5000 })).data);
    } else {
      const name = res.name();
      child = await host(res, { ...cfg, role: 'service', name });
      const { connectService } = await import('shmkit/nats');
      const client = await connectService(nc, subject);
      call = (a, b) => client.call('add', { a, b }, { timeoutMs: 5000 });
    }
    const loop = async (rounds) => {
      const samples = [];
      for (let i = 0; i < rounds; i++) {
        const t0 = process.hrtime.bigint();
        const r = await Promise.race([call(i, 7), child.dead]);
        samples.push(Number(process.hrtime.bigint() - t0));
        if (r !== i + 7) throw new VerificationError(`call ${i}: add(${i}, 7) answered ${r}`);
      }
      return samples;
    };
    step(`${out.label} warm-up`);
    await loop(Math.max(20, Math.round(options.rounds / 10)));
    const runs = [];
    for (let run = 1; run <= options.repeat; run++) {
      step(`${out.label} run ${run}/${options.repeat}`);
      runs.push(await loop(options.rounds));
    }
    Object.assign(out, percentilesUs(runs));
  } catch (error) {
    Object.assign(out, failure(error));
  } finally {
    await child?.stop();
  }
  return out;
}
