// Lab 12: publish/subscribe between processes — one Topic, three subscriber
// processes, and what each slow-subscriber policy does with the slow one.
//   node labs/12-topics/main.mjs
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Topic } from 'shmkit';

const log = (...args) => console.log(`[publisher ${process.pid}]`, ...args);
const subscriberScript = fileURLToPath(new URL('./subscriber.mjs', import.meta.url));
const COUNT = 2000;

async function run(policy, slowOne) {
  const name = `/lab12-${process.pid}-${policy}`;
  // A small log (4 KiB: a few hundred of these messages) so that a slow subscriber matters.
  const topic = Topic.create(name, { capacityBytes: 4096, slowSubscriber: policy, evictAfterMs: 500 });
  const children = ['fast', 'fast', slowOne].map((how) => fork(subscriberScript, [name, how, policy]));
  await Promise.all(children.map((child) => once(child, 'message'))); // each has subscribed
  log(`${policy}: ${topic.stats().subscribers} subscribers on ${name}; publishing ${COUNT} messages`);
  const started = performance.now();
  for (let seq = 0; seq < COUNT; seq++) {
    if (!topic.tryPublish({ seq })) await topic.publish({ seq }); // 'block', 'evict': wait for room
  }
  const { published, parks, wakes, overwritten, evicted } = topic.stats();
  const ms = Math.round(performance.now() - started);
  log(`${policy}: published ${published} in ${ms} ms; parked ${parks} times, sent ${wakes} wakes`);
  log(`${policy}: ${overwritten} messages overwritten in the log, ${evicted} subscribers evicted`);
  topic.close(); // the subscribers read to the end of the log, then their loops end
  await Promise.all(children.map((child) => once(child, 'exit')));
}

await run('block', 'slow');
await run('drop-oldest', 'sleepy');
await run('evict', 'stuck');
log('done');
