// Where the two ends of a round trip run (the --wakeup rows of `shmkit bench`).
// A blocking round trip costs what the scheduler makes of it: ~7–10 µs when
// both processes share a vCPU, ~50–100 µs across vCPUs on a 2-vCPU VM, and an
// unpinned pair lands differently from one case to the next. So the wake-up
// rows run pinned with taskset(1), once per placement.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** taskset(1), or undefined when it is not installed. */
export const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((path) => existsSync(path));

/** Where the scheduler puts them: every row but the --wakeup ones. */
export const UNPINNED = { id: 'unpinned', label: 'unpinned' };

/** The placements of the --wakeup rows: across two vCPUs and both on one; unpinned without taskset or a 2nd CPU. */
export function wakeupPlacements() {
  if (!TASKSET || availableParallelism() < 2) return [UNPINNED];
  return [
    { id: 'cross', label: 'across vCPUs (taskset 0 | 1)', cpus: [0, 1] },
    { id: 'same', label: 'one vCPU (taskset 1 | 1)', cpus: [1, 1] },
  ];
}
