// The worker thread of the `obj-worker` row (bench/objects.mjs): posts objects to
// its parent thread on { ctl: 'go', count } (at most WORKER_WINDOW ahead of the
// parent's { ctl: 'credit', n } acknowledgements), or echoes every object back.
import { parentPort, workerData } from 'node:worker_threads';
import { dropHook } from './message.mjs';
import { makeObject, WORKER_WINDOW } from './objects.mjs';

const { role, primitive } = workerData;
if (role === 'producer') {
  const drop = dropHook(primitive);
  let id = 0;
  let credit = WORKER_WINDOW;
  let wake;
  let work = Promise.resolve();
  const produce = async (count) => {
    for (let i = 0; i < count; i++) {
      while (credit === 0) await new Promise((resolve) => (wake = resolve));
      if (drop(id)) id = (id + 1) >>> 0;
      parentPort.postMessage(makeObject(id));
      id = (id + 1) >>> 0;
      credit--;
    }
  };
  parentPort.on('message', (message) => {
    if (message.ctl === 'credit') {
      credit += message.n;
      const w = wake;
      wake = undefined;
      w?.();
    } else if (message.ctl === 'go') {
      work = work.then(() => produce(message.count));
    }
  });
} else {
  parentPort.on('message', (o) => parentPort.postMessage(o));
}
