// Lab 10: cleaning up after a crash. Kernel objects belong to no process:
// when their creator dies, they stay. Find them, then remove them.
//   node labs/10-cleanup/main.mjs
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const log = (...args) => console.log(`[parent ${process.pid}]`, ...args);
const prefix = `lab10-${process.pid}-`;
const key = (0x1ab10000 | (process.pid & 0xffff)) >>> 0;
const hexKey = `0x${key.toString(16).padStart(8, '0')}`;

// `npx shmkit …` works too; we run the package's bin with this same node.
const root = path.dirname(createRequire(import.meta.url).resolve('shmkit/package.json'));
const bin = path.join(root, 'dist/tooling/cli/main.js');
function shmkit(...args) {
  console.log(`$ shmkit ${args.join(' ')}`);
  console.log(execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8' }).trimEnd());
}
function ipcs() {
  const lines = execFileSync('ipcs', ['-q'], { encoding: 'utf8' }).split('\n');
  console.log(`$ ipcs -q | grep ${hexKey}`);
  console.log(lines.find((line) => line.startsWith(hexKey)) ?? '(nothing)');
}

// 1. A child creates five objects and is killed before it can remove them.
const child = fork(fileURLToPath(new URL('./crasher.mjs', import.meta.url)), [prefix, String(key)]);
await once(child, 'message');
child.kill('SIGKILL'); // no finally blocks, no exit handlers: nothing gets removed
await once(child, 'exit');
log(`killed child ${child.pid} with SIGKILL`);

// 2. Find the leftovers. "stale" = nobody has it mapped or open any more.
shmkit('ls', '--match', prefix, '--format', 'table'); // the table a terminal shows (plain when piped)
ipcs(); // System V queues have a key, not a name: ipcs shows them, and so does
shmkit('ls', '--kind', 'sysv-mq', '--match', hexKey, '--format', 'table');

// 3. Look before you delete, then delete.
shmkit('rm', '--stale', '--match', prefix, '--dry-run');
shmkit('rm', '--stale', '--match', prefix);
shmkit('rm', `key:${hexKey}`); // the SysV queue's name is its key

// 4. Nothing left.
shmkit('ls', '--match', prefix, '--format', 'table');
ipcs();
