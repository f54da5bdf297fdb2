/**
 * Every lab in labs/ runs and prints what its README says it will. Assertions
 * are on the stable lines only (counts, orders, error codes), never on timing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prerequisite } from './helpers.js';

const root = path.join(__dirname, '..');

/** Runs `node labs/<dir>/main.mjs` with stdout and stderr in one stream, as a student sees it. */
function runLab(dir: string): string {
  const script = path.join(root, 'labs', dir, 'main.mjs');
  const output = execFileSync('/bin/sh', ['-c', 'exec "$0" "$1" 2>&1', process.execPath, script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 40_000,
  });
  expectNoLeftovers(dir.slice(0, 2), output);
  return output;
}

/** No object named lab<NN>-<pid>… (for any pid in the trace) is left in /dev/shm, /dev/mqueue or the temp dir. */
function expectNoLeftovers(lab: string, output: string): void {
  const pids = [...output.matchAll(/\[\w+ (\d+)\]/g)].map((match) => match[1]);
  const places = ['/dev/shm', '/dev/mqueue', os.tmpdir()].filter((dir) => fs.existsSync(dir));
  const names = places.flatMap((dir) => fs.readdirSync(dir));
  const left = names.filter((name) => pids.some((pid) => new RegExp(`lab${lab}-${pid}[-.]`).test(name)));
  expect(left).toEqual([]);
}

/** The number after `label` in the output. */
function numberAfter(output: string, label: RegExp): number {
  const match = output.match(label);
  expect(match, `${label} in:\n${output}`).not.toBeNull();
  return Number(match?.[1]);
}

describe('labs', () => {
  it('01-pipe: a byte stream, one read for three writes, a 64 KiB pipe', () => {
    const out = runLab('01-pipe');
    expect(out).toMatch(/stdio 'pipe': my fd 0 is a socket/);
    expect(out).toMatch(/my fd 1 is a FIFO \(a real pipe\)/);
    expect(out).toContain('read() #1 returned 20 bytes: "hello\\nfrom\\nthe pipe\\n"');
    expect(out).toMatch(/20 bytes in 1 read\(\) call\(s\)/);
    expect(out).toMatch(/read\(\) #1 returned 65536 bytes: everything the pipe could hold/);
    expect(out).toMatch(/131072 bytes in \d+ read\(\) call\(s\)/);
    expect(out).toMatch(/all 131072 bytes written/);
  });

  it('02-fifo: open blocks, EOF, EPIPE, framed messages', () => {
    const out = runLab('02-fifo');
    expect(out).toMatch(/open\(\) returned after \d+ ms: a writer arrived/);
    expect(out).toMatch(/read\(\) returned 0: EOF/);
    expect(out).toMatch(/write failed: EPIPE/);
    expect(out).toMatch(/message 1: 5 bytes[\s\S]*message 2: 100000 bytes[\s\S]*message 3: 3 bytes/);
    expect(out).toMatch(/end of stream after 3 messages/);
    expect(out).toMatch(/removed \/.*lab02-\d+\.fifo/);
  });

  it('03-sysv-mq: types, type selection, ipcs before/after, messages outlive the producer', () => {
    const out = runLab('03-sysv-mq');
    const before = out.indexOf('ipcs -q before:');
    const during = out.indexOf('ipcs -q with messages waiting:');
    const after = out.indexOf('ipcs -q after:');
    expect(before).toBeGreaterThanOrEqual(0);
    expect(during).toBeGreaterThan(before);
    expect(after).toBeGreaterThan(during);
    expect(out.slice(before, during)).toMatch(/\(no queue with key 0x[0-9a-f]{8}\)/);
    expect(out.slice(during, after)).toMatch(/^\s+0x[0-9a-f]{8}\s+\d+\s+\S+\s+600\s+109\s+6\s*$/m);
    expect(out.slice(after)).toMatch(/\(no queue with key 0x[0-9a-f]{8}\)/);
    expect(out).toMatch(/the producer exited; the queue still holds 6 messages/);
    expect(out).toContain('msgrcv(type 3) -> type 3: "error: job 11 failed"');
    const received = [...out.matchAll(/msgrcv\(type -?\d\) -> type (\d)/g)].map((match) => match[1]);
    expect(received).toEqual(['3', '1', '1', '2', '2', '1']);
  });

  it('04-posix-mq: highest priority first, FIFO within one, visible in /dev/mqueue', () => {
    const out = runLab('04-posix-mq');
    const order = [...out.matchAll(/mq_receive -> priority\s+(\d+): (.*)/g)].map((match) => `${match[1]} ${match[2]}`);
    expect(order).toEqual(['31 PAGER: disk full', '5 resize images', '5 thumbnails', '0 backup', '0 send newsletter']);
    if (prerequisite(fs.existsSync('/dev/mqueue'), 'the mqueue filesystem on /dev/mqueue')) {
      expect(out).toMatch(/after the producer exited: cat \/dev\/mqueue\/lab04-\d+-jobs -> QSIZE:60/);
      expect(out).toMatch(/after mq_unlink: \/dev\/mqueue\/lab04-\d+-jobs does not exist/);
    }
    expect(out).toMatch(/receive on the empty queue: ETIMEDOUT/);
  });

  it('05-shared-memory: plain += loses updates, Atomics.add does not', () => {
    const out = runLab('05-shared-memory');
    // The lab repeats the plain round if the two children happened not to overlap; the last one counts.
    const plain = [...out.matchAll(/plain: expected (\d+), got (\d+)/g)].at(-1);
    expect(plain, out).toBeDefined();
    expect(Number(plain?.[2])).toBeLessThan(Number(plain?.[1]));
    const atomicExpected = numberAfter(out, /atomic: expected (\d+)/);
    expect(numberAfter(out, /atomic: expected \d+, got (\d+)/)).toBe(atomicExpected);
    expect(out).toMatch(/atomic: expected \d+, got \d+ \(0 updates lost\)/);
  });

  it('06-semaphores: the lock makes the count exact; the bounded buffer blocks when full', () => {
    const out = runLab('06-semaphores');
    expect(numberAfter(out, /unlocked: counter = (\d+)/)).toBeLessThan(200);
    expect(out).toContain('locked: counter = 200 (expected 200)');
    expect(out).toMatch(
      /put item 4 in slot 3[\s\S]*item 5: no empty slot \(empty = 0\), sleeping in sem_wait\(empty\)/,
    );
    expect(out).toContain('received items 1,2,3,4,5,6,7,8,9,10,11,12');
    expect(out).toContain('final values: empty = 4, full = 0');
  });

  it('07-signals: siginfo, 100 queued real-time signals in order, SIGUSR1 coalesces', () => {
    const out = runLab('07-signals');
    const parent = numberAfter(out, /\[parent (\d+)\]/);
    expect(out).toContain(`SIGUSR1 from pid ${parent}, code SI_USER, value undefined`);
    expect(out).toContain(`SIGUSR1 from pid ${parent}, code SI_QUEUE, value 7`);
    expect(out).toContain('SIGUSR1 arrived 1 time(s) for 5 sent');
    expect(out).toContain('SIGRTMIN+1 arrived 100 times for 100 sent');
    expect(out).toContain(`SIGRTMIN+1 values in order 1..100: yes; sent by pid(s) ${parent}`);
    expect(out).toMatch(/child exited with code 0/);
  });

  it('08-ring-buffer: head/tail, wrap markers, a full ring, ownerDied after SIGKILL', () => {
    const out = runLab('08-ring-buffer');
    expect(out).toMatch(/ring \/lab08-\d+-ring: 64 bytes of data; head=0 tail=0/);
    expect(out).toContain(
      'received in order: 1:alpha..... 2:bravo..... 3:charlie... 4:delta..... 5:echo...... 6:foxtrot... 7:golf...... 8:hotel.....',
    );
    expect(out).toMatch(/stepped over a 16-byte wrap marker first/);
    expect(out).toMatch(/ring full for "\d:\w+\.*": sleeping until the consumer frees space/);
    expect(out).toMatch(/pop "8:hotel\.\.\.\.\.": head \d+ -> 240 .*tail=240/);
    expect(out).toContain('tryLock() while child');
    expect(out).toContain('undefined (busy)');
    expect(out).toContain('ownerDied = true');
    expect(out).toContain('lockSync() again: ownerDied = false');
  });

  it('09-measuring: runs the benchmark subset and reads it', () => {
    const out = runLab('09-measuring');
    expect(out).toMatch(/ring SPSC/);
    expect(out).toMatch(/64 B: ring SPSC [\d.]+x process\.send, [\d.]+x unix socket/);
    expect(out).toMatch(/64 KiB: ring SPSC [\d.]+x process\.send, [\d.]+x unix socket/);
    expect(out).toMatch(/consumer parked on a futex: p50 [\d.]+ µs/);
    expect(out).toMatch(/consumer spinning first: +p50 [\d.]+ µs/);
    expect(out).toMatch(/the chart: open .*chart\.svg/);
  });

  it('10-cleanup: leftovers of a SIGKILLed process are found stale and removed', () => {
    const out = runLab('10-cleanup');
    const prefix = out.match(/shmkit ls --match (lab10-\d+-)/)?.[1];
    expect(prefix).toBeDefined();
    for (const name of [`/${prefix}state`, `/${prefix}ring`, `sem.${prefix}lock`, `/${prefix}jobs`]) {
      expect(out).toMatch(new RegExp(`${name.replace('.', '\\.')}\\s.*│ stale │`));
    }
    expect(out).toMatch(/4 objects .*; 4 stale/);
    expect(out).toMatch(/would remove ring \/lab10-\d+-ring \(no process maps it; its creator \d+ exited\)/);
    for (const kind of ['shm', 'ring', 'semaphore', 'posix-mq', 'sysv-mq'])
      expect(out).toMatch(new RegExp(`^removed ${kind} `, 'm'));
    expect(out).toMatch(/shmkit ls --match lab10-\d+- --format table\nNo objects\./);
    expect(out.trimEnd().endsWith('(nothing)')).toBe(true);
  });

  it('11-services: calls, 100 in flight, a timeout, a killed client cleaned up, a drain', () => {
    const out = runLab('11-services');
    expect(out).toMatch(/add\(2, 3\) = 5/);
    expect(out).toMatch(/100 calls in flight at once: the last answer is 198/);
    expect(out).toMatch(/slow\(1000\) with timeoutMs 50: ETIMEDOUT/);
    expect(out).toMatch(/nope\(\): ERR_SHMKIT_NO_SUCH_METHOD/);
    expect(out).toMatch(
      /in flight: 3; in \/dev\/shm: lab11-\d+-calc, lab11-\d+-calc\.0\.2\.req, lab11-\d+-calc\.0\.2\.res/,
    );
    expect(out).toMatch(/disconnect 0\.2: died/);
    expect(out).toMatch(/in flight after its death: 0; in \/dev\/shm: lab11-\d+-calc\n/);
    expect(out).toMatch(/a new call during the drain: ERR_SHMKIT_SERVICE_DRAINING/);
    expect(out).toMatch(/the call in flight during the drain: slept 300 ms/);
    expect(out).toMatch(/calls started 106, completed 102, failed 0, cancelled 4/);
    expect(out).toMatch(/left in \/dev\/shm: \(nothing\)/);
  });

  it('12-topics: one topic, three subscribers, a slow one under each policy', () => {
    const out = runLab('12-topics');
    for (const policy of ['block', 'drop-oldest', 'evict']) {
      expect(out).toMatch(new RegExp(`${policy}: 3 subscribers on /lab12-\\d+-${policy}; publishing 2000 messages`));
      expect(out).toMatch(new RegExp(`${policy}: published 2000 in \\d+ ms`));
    }
    // 'block': everybody gets everything, in order.
    expect(out.match(/block: got 2000, skipped 0 \('lagged' 0 times\), in order: 2000 in all/g)).toHaveLength(3);
    expect(out).toMatch(/block: \d+ messages overwritten in the log, 0 subscribers evicted/);
    // 'drop-oldest': what each got plus what it was told it skipped is what was published.
    expect(out.match(/drop-oldest: got \d+, skipped \d+ \('lagged' \d+ times\), in order: 2000 in all/g)).toHaveLength(
      3,
    );
    expect(out).toMatch(/\[sleepy \d+\] drop-oldest: got \d+, skipped [1-9]\d*/);
    // 'evict': only the stuck one is evicted.
    expect(out).toMatch(/evict: \d+ messages overwritten in the log, 1 subscribers evicted/);
    expect(
      out.match(/\[fast \d+\] evict: got 2000, skipped 0 \('lagged' 0 times\), in order: 2000 in all/g),
    ).toHaveLength(2);
    expect(out).toMatch(/\[stuck \d+\] evict: ERR_SHMKIT_SLOW_CONSUMER after reading 100/);
    expect(out).toMatch(/\[publisher \d+\] done/);
  });
});
