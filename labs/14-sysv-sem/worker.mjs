// Lab 14 worker: argv = setId, mode, name, first, second[, undo].
//   one-by-one  take `first`, report, wait for 'go', try `second` for 500 ms, report, wait for 'exit'
//   atomic      5 times: take both in one semop, use them, give both back
//   hold        take `first` (with SEM_UNDO if undo is 'true') and hold it until killed
import { SysvSemaphoreSet } from 'shmkit';

const [id, mode, name, first, second, undo] = process.argv.slice(2);
const log = (...args) => console.log(`[worker ${name} ${process.pid}]`, ...args);
const set = SysvSemaphoreSet.fromId(Number(id));
const RESOURCES = ['printer', 'scanner'];
const a = Number(first);
const b = Number(second);

if (mode === 'one-by-one') {
  await set.op([{ index: a, delta: -1, undo: true }]);
  log(`took the ${RESOURCES[a]}`);
  process.send('holding');
  await new Promise((resolve) => process.once('message', resolve));
  try {
    await set.op([{ index: b, delta: -1, undo: true }], { timeoutMs: 500 });
    log(`took the ${RESOURCES[b]} too`);
  } catch (error) {
    log(
      `waited 500 ms for the ${RESOURCES[b]}: ${error.code} (a deadlock: the other worker holds it and waits for mine)`,
    );
  }
  // Keep holding until the parent has heard from both workers: exiting now
  // would hand the resource to the other one, ending the deadlock early.
  process.send('tried');
  await new Promise((resolve) => process.once('message', resolve));
  set.close();
  process.disconnect(); // exiting: SEM_UNDO gives back what this process still holds
} else if (mode === 'atomic') {
  for (let round = 1; round <= 5; round++) {
    // Both or nothing: while one is taken, this op takes neither and waits.
    await set.op([
      { index: a, delta: -1, undo: true },
      { index: b, delta: -1, undo: true },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 5)); // "print and scan"
    await set.op([
      { index: a, delta: 1, undo: true },
      { index: b, delta: 1, undo: true },
    ]);
  }
  log('used both resources 5 times');
  set.close();
  process.disconnect();
} else {
  await set.op([{ index: a, delta: -1, undo: undo === 'true' }]);
  process.send('holding');
}
