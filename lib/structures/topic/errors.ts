/**
 * The errors of a topic, each with a `code` (built with lib/core/errors.ts).
 */
import { codedError } from '../../core/errors.js';

/** `ERR_SHMKIT_BAD_TOPIC`: the object is not a topic this shmkit can open. */
export function badTopic(name: string, detail: string): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_BAD_TOPIC',
    `'${name}' is not a usable topic: ${detail}; if it is a topic of a dead publisher, create it again (or \`shmkit rm --stale\`)`,
  );
}

/** `ERR_SHMKIT_TOPIC_CORRUPT`: the log or a slot holds values that make no sense. */
export function corruptTopic(name: string, detail: string): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_TOPIC_CORRUPT',
    `topic '${name}' is corrupt: ${detail}. A process wrote to it outside the topic format; ` +
      'its messages cannot be trusted: create it again',
  );
}

/** `ERR_SHMKIT_TOPIC_FULL`: every subscriber slot is taken by a live subscriber. */
export function topicFull(name: string, maxSubscribers: number): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_TOPIC_FULL',
    `topic '${name}' has ${maxSubscribers} subscribers, its maxSubscribers: ` +
      'close one, or create the topic with a larger maxSubscribers',
  );
}

/** `ERR_SHMKIT_SLOW_CONSUMER`: the publisher evicted this subscriber ('evict'). */
export function slowConsumer(name: string, evictAfterMs: number): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_SLOW_CONSUMER',
    `this subscriber of topic '${name}' held its publisher back for more than ${evictAfterMs} ms ` +
      "and was evicted (slowSubscriber: 'evict'); subscribe again to read on from the newest messages",
  );
}

/** `ERR_SHMKIT_CODEC_MISMATCH`: a subscriber's codec is not the topic's. */
export function codecMismatch(name: string, found: string, wanted: string): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_CODEC_MISMATCH',
    `topic '${name}' carries messages of ${found}, and this subscriber asked for ${wanted}: subscribe with the topic's codec`,
  );
}

/** `ERR_OUT_OF_RANGE` (a RangeError): a message larger than the log takes. */
export function tooLarge(name: string, length: number, maxMessageBytes: number): RangeError & { code: string } {
  return codedError(
    'ERR_OUT_OF_RANGE',
    `a message of ${length} bytes is too large for topic '${name}', which takes messages of at most ` +
      `${maxMessageBytes} bytes: create it with a larger capacityBytes`,
    RangeError,
  );
}

/** `ERR_SHMKIT_NOT_RAW`: a zero-copy call on a topic whose codec is not 'raw'. */
export function notRaw(name: string, call: string): Error & { code: string } {
  return codedError(
    'ERR_SHMKIT_NOT_RAW',
    `${call} is for topics of codec 'raw', and topic '${name}' encodes its messages: use publish() and next()`,
  );
}

/** A zero-copy call out of order: `ERR_SHMKIT_CLAIM_PENDING`, `ERR_SHMKIT_NO_CLAIM`, `ERR_SHMKIT_PEEK_PENDING`, `ERR_SHMKIT_NO_PEEK`. */
export function outOfOrder(
  code: 'ERR_SHMKIT_CLAIM_PENDING' | 'ERR_SHMKIT_NO_CLAIM' | 'ERR_SHMKIT_PEEK_PENDING' | 'ERR_SHMKIT_NO_PEEK',
): Error & { code: string } {
  const text = {
    ERR_SHMKIT_CLAIM_PENDING: 'commit() the pending claim first',
    ERR_SHMKIT_NO_CLAIM: 'nothing claimed: claim() first',
    ERR_SHMKIT_PEEK_PENDING: 'release() the pending peek first',
    ERR_SHMKIT_NO_PEEK: 'nothing peeked: peek() first',
  }[code];
  return codedError(code, text);
}
