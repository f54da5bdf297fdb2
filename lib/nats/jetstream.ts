/**
 * The JetStream objects a bridge needs: its stream (file storage, so a
 * server restart keeps it) and, inbound, its durable consumer.
 */
import type { ConsumerInfo, NatsConnection, StreamInfo } from 'nats';
import type { NatsModule } from './load.js';

/** The stream `name`; created on `subject` (file storage) when missing. */
export async function ensureStream(
  nc: NatsConnection,
  nats: NatsModule,
  name: string,
  subject: string,
): Promise<StreamInfo> {
  const jsm = await nc.jetstreamManager();
  try {
    return await jsm.streams.info(name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return await jsm.streams.add({ name, subjects: [subject], storage: nats.StorageType.File });
  }
}

/**
 * The durable consumer `durable` of `stream` on `subject` (explicit acks,
 * from the stream's start), created when missing (`created`). `ackWaitMs`: how long a
 * delivered message may stay unacknowledged before it is redelivered.
 */
export async function ensureConsumer(
  nc: NatsConnection,
  nats: NatsModule,
  stream: string,
  durable: string,
  subject: string,
  ackWaitMs: number,
): Promise<{ info: ConsumerInfo; created: boolean }> {
  const jsm = await nc.jetstreamManager();
  try {
    return { info: await jsm.consumers.info(stream, durable), created: false };
  } catch (error) {
    if (!isNotFound(error)) throw error;
    const info = await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: nats.AckPolicy.Explicit,
      deliver_policy: nats.DeliverPolicy.All,
      filter_subject: subject,
      ack_wait: nats.nanos(ackWaitMs),
      max_ack_pending: 4096,
    });
    return { info, created: true };
  }
}

/** The `Nats-Msg-Id` of the last message on `subject` in `stream`; undefined if none (or it has none). */
export async function lastMsgId(nc: NatsConnection, stream: string, subject: string): Promise<string | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const msg = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return msg.header?.get('Nats-Msg-Id') || undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  const { code, api_error: api } = error as { code?: string; api_error?: { code?: number } };
  return code === '404' || api?.code === 404 || /not found/i.test(String((error as Error)?.message));
}
