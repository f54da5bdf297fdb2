// The CPU a process used, from /proc: utime+stime (clock ticks) and the run
// time of every thread (schedstat, ns). The idle, service-liveness and call
// rows read it for their children and themselves.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The clock ticks per second of utime/stime (getconf CLK_TCK; 100 if it cannot say). */
export function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** utime+stime of the whole process (clock ticks, proc(5) fields 14 and 15) and every thread's schedstat run time (ns). */
export function cpuOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return { ticks, ns };
}
