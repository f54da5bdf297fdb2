// The worker thread of the `worker` row (bench/child.mjs): the producer or the
// echo end of a SharedArrayBuffer ring, in the same process as its peer.
import { parentPort, workerData } from 'node:worker_threads';
import { sabEndpoint } from './sab-ring.mjs';
import { byId, echoLoop, producerSync } from './transports.mjs';

const { role, size, rings, total } = workerData;
const prim = byId.get('worker');
if (role === 'producer') {
  const produce = producerSync(prim, size, sabEndpoint(rings.a));
  parentPort.on('message', ({ count }) => {
    produce(count);
    parentPort.postMessage({ sent: count });
  });
} else {
  await echoLoop(sabEndpoint(rings.a), sabEndpoint(rings.b), total);
  parentPort.postMessage({ done: true });
}
