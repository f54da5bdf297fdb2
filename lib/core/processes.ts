/**
 * Who is alive: whether a pid names a running (not zombie) process, and when
 * it started (/proc/PID/stat, proc(5)), so that a recycled pid is not taken
 * for the process that made or used an object. Used by the robust lock word
 * (synchronously, on its contended path) and by the inventory.
 *
 * Pids are only meaningful within one pid namespace.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';

/**
 * Whether a process with this pid runs: kill(2) with signal 0 says it exists
 * (EPERM: it does, under another user), and on Linux /proc says it is not a
 * zombie — a dead owner its parent has not reaped yet still has its pid.
 */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  return processLife(pid).alive;
}

/** What the robust lock needs to know of a pid, from one kill(2) and at most one /proc read. */
export interface ProcessLife {
  /** As isProcessAlive. */
  alive: boolean;
  /** Its start time (see processStartTicks); undefined when dead or when /proc cannot tell. */
  startTicks: number | undefined;
}

const DEAD: ProcessLife = Object.freeze({ alive: false, startTicks: undefined });

/** Whether `pid` runs (as isProcessAlive) and, if /proc tells, when it started. */
export function processLife(pid: number): ProcessLife {
  if (pid <= 0) return DEAD;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return DEAD;
  }
  const fields = statFields(pid);
  if (!fields) return { alive: true, startTicks: undefined }; // no /proc (macOS), or it vanished: kill() decided
  return isDeadState(fields[0]) ? DEAD : { alive: true, startTicks: startTicksOf(fields) };
}

/**
 * When process `pid` started: the starttime field (22) of /proc/PID/stat, in
 * clock ticks since boot — the unit C peers read too, so both compare exact
 * integers without any boot-time arithmetic. Together with the pid it names
 * one process for good: a recycled pid has another start. Undefined if there
 * is no such process, it is a zombie, or /proc cannot tell (no /proc, hidepid).
 * Synchronous: the robust lock calls it once per process for itself ('self').
 */
export function processStartTicks(pid: number | 'self'): number | undefined {
  const fields = statFields(pid);
  return fields && !isDeadState(fields[0]) ? startTicksOf(fields) : undefined;
}

/** The fields of /proc/PID/stat from the state (field 3) on, or undefined if it cannot be read. */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    return parseStat(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** "pid (comm) state ppid ...": the fields from the state on (comm may hold spaces and parentheses). */
function parseStat(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** Zombie (dead, not yet reaped) or dead. */
function isDeadState(state: string | undefined): boolean {
  return state === 'Z' || state === 'X' || state === 'x';
}

function startTicksOf(fields: string[]): number | undefined {
  const ticks = Number(fields[19]); // field 22, counted from the state (field 3)
  return Number.isSafeInteger(ticks) && ticks >= 0 ? ticks : undefined;
}

let bootTimeMs: number | undefined;

async function bootTime(): Promise<number | undefined> {
  if (bootTimeMs !== undefined) return bootTimeMs;
  try {
    const line = (await fsp.readFile('/proc/stat', 'utf8')).split('\n').find((text) => text.startsWith('btime '));
    const seconds = Number(line?.slice(6));
    if (Number.isFinite(seconds) && seconds > 0) bootTimeMs = seconds * 1000;
  } catch {
    // no /proc/stat: start times are unknown
  }
  return bootTimeMs;
}

/** USER_HZ: the unit of /proc/PID/stat's starttime; 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/** What /proc/PID/stat says of a process: undefined if there is none (or it is a zombie). */
async function processStart(pid: number): Promise<{ startedAtMs: number | undefined } | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let fields: string[];
  try {
    fields = parseStat(await fsp.readFile(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
  if (isDeadState(fields[0])) return undefined; // dead, not yet reaped
  const ticks = startTicksOf(fields);
  const boot = await bootTime();
  return {
    startedAtMs: boot !== undefined && ticks !== undefined ? boot + (ticks / CLOCK_TICKS) * 1000 : undefined,
  };
}

/**
 * Whether `pid` names a live process — and, with `notAfterMs`, one that had
 * already started by then (so that a recycled pid is not taken for the
 * process that made or last used an object at `notAfterMs`).
 */
export async function isAlive(pid: number, notAfterMs?: number): Promise<boolean> {
  const info = await processStart(pid);
  if (!info) return false;
  if (notAfterMs === undefined || info.startedAtMs === undefined) return true;
  return info.startedAtMs <= notAfterMs + 2000; // btime has 1 s resolution
}
