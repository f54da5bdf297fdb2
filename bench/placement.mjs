// Where the two ends of a row run (the --wakeup rows of `shmkit bench`, and
// every row under --pin same|split).
// A blocking round trip costs what the scheduler makes of it: ~7–10 µs when
// both processes share a vCPU, ~50–100 µs across vCPUs on a 2-vCPU VM, and an
// unpinned pair lands differently from one case to the next. So the wake-up
// rows run pinned with taskset(1), once per placement.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

/**
 * The placement of every row under --pin: 'same' puts both ends on one vCPU (CPU 1, as
 * --wakeup's), 'split' one on each (CPU 0 and 1; placement id 'cross', as --wakeup's).
 * Returns { placement } or { error } (a sentence) when this machine cannot pin that way.
 */
export function pinPlacement(mode) {
  if (!TASKSET) return { error: '--pin needs taskset(1) (util-linux), which is not installed' };
  if (availableParallelism() < 2) return { error: `--pin ${mode} needs two CPUs; this process may use one` };
  if (mode === 'same') return { placement: { id: 'same', label: 'pinned to one vCPU (taskset 1 | 1)', cpus: [1, 1] } };
  return { placement: { id: 'cross', label: 'pinned across vCPUs (taskset 0 | 1)', cpus: [0, 1] } };
}

/** The CPU list of a process that holds both ends (a worker row, the memcpy rows, pipe_bench's fork). */
export function bothEnds(placement) {
  if (!placement.cpus) return undefined;
  return [...new Set(placement.cpus)].join(',');
}

const ALLOWED = /^Cpus_allowed_list:\s*(\S+)/m;

/**
 * Pins this process (every thread: taskset -a -p) to `cpus` (a taskset list) for the rows
 * whose one end is the parent (process.send, child stdio); returns the function that puts
 * its old CPU list back.
 */
export function pinSelf(cpus) {
  const before = ALLOWED.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const set = (list) => execFileSync(TASKSET, ['-a', '-p', '-c', list, String(process.pid)], { stdio: 'ignore' });
  set(String(cpus));
  return () => {
    if (before) set(before);
  };
}
