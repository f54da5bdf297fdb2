/**
 * bridgeTopic(): a local Topic's messages to a NATS subject ('out'), or a
 * subject's messages into a local Topic ('in'), optionally through
 * JetStream. Fan-out stays in shared memory on each host: one network copy
 * per host, not per subscriber (docs/beyond-one-host.md).
 */
import type { NatsConnection } from 'nats';
import { typeError, validateInteger, validateOptions } from '../core/validate.js';
import { type CodecSpec, resolveCodec } from '../structures/codecs.js';
import { Topic, type TopicCreateOptions } from '../structures/topic/topic.js';
import { BridgeIn } from './bridge-in.js';
import { BridgeOut } from './bridge-out.js';
import type { JetStreamBridgeOptions, TopicBridge } from './bridge-types.js';
import { loadNats } from './load.js';
import { validSubject } from './protocol.js';

/** Options of {@link bridgeTopic}. */
export interface BridgeTopicOptions {
  /** The NATS subject the messages travel on. */
  subject: string;
  /** 'out': the local topic's messages go to NATS; 'in': NATS messages go into the local topic. */
  direction: 'out' | 'in';
  /**
   * Through JetStream: `stream` (created on `subject`, file storage, when
   * missing). 'in' reads through the durable consumer `durable` (default
   * `shmkit-<subject with dots as dashes>`); a delivered message not
   * acknowledged within `ackWaitMs` (default 5000) is delivered again.
   * 'out' fails `done` with `ERR_SHMKIT_BRIDGE_REFUSED` once the stream (or
   * the client) has refused its publishes for `failAfterMs` ms (default
   * 10000) with no acknowledgement between: a message above the server's
   * max_payload, a full stream that discards new ones. Timeouts and lost
   * connections (a server restart) are retried without limit.
   */
  jetstream?: { stream: string; durable?: string; ackWaitMs?: number; failAfterMs?: number };
  /** The topic's codec (default 'msgpack'); NATS messages carry its bytes. */
  codec?: CodecSpec<unknown>;
  /** 'in' with a topic name: the options of the Topic the bridge creates (its codec is `codec`). */
  topic?: Omit<TopicCreateOptions<unknown>, 'codec'>;
}

/**
 * Bridges `topic` and NATS subject `options.subject`. 'out': `topic` is the
 * name of a local topic the bridge subscribes to. 'in': `topic` is a
 * `Topic` this process publishes (the bridge publishes into it; the caller
 * closes it) or a name (the bridge creates the topic and removes it at
 * stop()). Core NATS delivers at most once (a message in the wire at a
 * server restart is lost; publishes that fail are counted in
 * `notForwarded`); JetStream delivers each message once, in order, across
 * server restarts and 'in' bridge restarts (a message forwarded but not
 * acknowledged when an 'in' bridge stops may come again after its restart).
 * An 'out' bridge's stop() drains (TopicBridge.stop). A JetStream 'out'
 * bridge resumes after the stream's last message when that came from the
 * same topic (what the topic's log no longer holds is counted in `lagged`);
 * otherwise, and over core NATS, it forwards from now on. A JetStream 'in'
 * bridge skips the messages its stream no longer has (counted in `lost`).
 * `done` rejects with `ERR_SHMKIT_BRIDGE_REFUSED` when JetStream keeps refusing an 'out' bridge's publishes.
 * @throws (rejects) `ERR_SHMKIT_NO_NATS`; TypeError/RangeError naming the option; the errors of
 * Topic.subscribe()/Topic.create(); JetStream API errors (e.g. JetStream not enabled on the server).
 */
export async function bridgeTopic(
  topic: string | Topic<unknown>,
  nc: NatsConnection,
  options: BridgeTopicOptions,
): Promise<TopicBridge> {
  const opts = validateOptions(options);
  const subject = validSubject(opts.subject, 'options.subject');
  if (opts.direction !== 'out' && opts.direction !== 'in')
    throw typeError('options.direction', "'out' or 'in'", opts.direction);
  const codecSpec = opts.codec ?? 'msgpack';
  const codec = resolveCodec<unknown>(codecSpec);
  const js = opts.jetstream === undefined ? undefined : jetstreamOptions(opts.jetstream, subject);
  const nats = await loadNats();
  if (opts.direction === 'out') {
    if (typeof topic !== 'string') throw typeError('topic', "a topic name (direction 'out')", topic);
    return BridgeOut.start(topic, nc, nats, { subject, codec, codecSpec, js });
  }
  if (typeof topic !== 'string' && !(topic instanceof Topic))
    throw typeError('topic', "a Topic or a topic name (direction 'in')", topic);
  return BridgeIn.start(topic, nc, nats, { subject, codec, codecSpec, js, topicOptions: opts.topic });
}

function jetstreamOptions(value: unknown, subject: string): JetStreamBridgeOptions {
  const opts = validateOptions(value as BridgeTopicOptions['jetstream'], 'options.jetstream');
  if (typeof opts.stream !== 'string' || !/^[^\s.*>]+$/.test(opts.stream))
    throw typeError('options.jetstream.stream', 'a stream name (no spaces, dots or wildcards)', opts.stream);
  const durable = opts.durable ?? `shmkit-${subject.replaceAll('.', '-')}`;
  if (typeof durable !== 'string' || !/^[^\s.*>]+$/.test(durable))
    throw typeError('options.jetstream.durable', 'a consumer name (no spaces, dots or wildcards)', durable);
  const ackWaitMs =
    opts.ackWaitMs === undefined
      ? 5000
      : validateInteger(opts.ackWaitMs, 'options.jetstream.ackWaitMs', 100, 2 ** 31 - 1);
  const failAfterMs =
    opts.failAfterMs === undefined
      ? 10_000
      : validateInteger(opts.failAfterMs, 'options.jetstream.failAfterMs', 0, 2 ** 31 - 1);
  return { stream: opts.stream, durable, ackWaitMs, failAfterMs };
}
