// Lab 12, a subscriber: reads topic argv[2] and says what it got.
//   how: 'fast' reads as fast as it can; 'slow' naps 1 ms every 20 messages;
//        'sleepy' reads one message, then naps until the publisher has published all;
//        'stuck' reads 100 messages, then stops for a second.
import { setTimeout as sleep } from 'node:timers/promises';
import { Topic } from 'shmkit';

const [name, how, policy] = process.argv.slice(2);
const log = (...args) => console.log(`[${how} ${process.pid}]`, ...args);
const sub = Topic.subscribe(name); // codec 'msgpack', from: 'now'
let skipped = 0;
let lagEvents = 0;
sub.on('lagged', (count) => {
  skipped += count;
  lagEvents++;
});
process.send('ready');

let got = 0;
let last = -1;
let outOfOrder = 0;
try {
  for await (const { seq } of sub) {
    if (seq <= last) outOfOrder++;
    last = seq;
    got++;
    if (how === 'slow' && got % 20 === 0) await sleep(1);
    if (how === 'stuck' && got === 100) await sleep(1000);
    if (how === 'sleepy' && got === 1) while ((Topic.stat(name)?.published ?? 2000) < 2000) await sleep(5);
  }
  const order = outOfOrder === 0 ? 'in order' : `${outOfOrder} out of order`;
  log(`${policy}: got ${got}, skipped ${skipped} ('lagged' ${lagEvents} times), ${order}: ${got + skipped} in all`);
} catch (error) {
  log(`${policy}: ${error.code} after reading ${got}`);
  sub.close();
}
