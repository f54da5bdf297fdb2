/** The package as users get it: import and require, types, capabilities, platform check. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { capabilities } from '../lib/index.js';

const root = path.join(__dirname, '..');

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
}

describe('package', () => {
  it('import and require give the same classes, sharing one addon', () => {
    const output = node([
      '--input-type=module',
      '-e',
      `import * as esm from 'shmkit';
       import { createRequire } from 'node:module';
       const cjs = createRequire(import.meta.url)('shmkit');
       const names = Object.keys(esm).filter((n) => n !== 'default').sort();
       console.log(JSON.stringify({ names, same: names.every((n) => esm[n] === cjs[n]) }));`,
    ]);
    const { names, same } = JSON.parse(output);
    expect(same).toBe(true);
    expect(names).toEqual(
      expect.arrayContaining([
        'SharedMemory',
        'Semaphore',
        'futex',
        'capabilities',
        'SysvMessageQueue',
        'MessageQueue',
        'ClosedError',
        'AbortError',
      ]),
    );
  });

  it('ships type declarations for its entry point', () => {
    const types = fs.readFileSync(path.join(root, 'dist/index.d.ts'), 'utf8');
    expect(types).toMatch(/SharedMemory/);
    expect(types).toMatch(/Semaphore/);
    expect(types).toMatch(/SysvMessageQueue/);
    expect(types).toMatch(/WaitSyncOptions/);
  });

  it('keeps MessageQueue as the same class as SysvMessageQueue, marked deprecated in its types', () => {
    const output = node([
      '-e',
      `const shmkit = require('shmkit');
       console.log(JSON.stringify(shmkit.MessageQueue === shmkit.SysvMessageQueue));`,
    ]);
    expect(output).toBe('true');
    const types = fs.readFileSync(path.join(root, 'dist/primitives/sysv-mq.d.ts'), 'utf8');
    expect(types).toMatch(/@deprecated[^*]*\*\/\s*export declare const MessageQueue:/);
  });

  it('describes what the platform offers', () => {
    expect(Object.values(capabilities).every((value) => typeof value === 'boolean')).toBe(true);
    expect(capabilities).toMatchObject({ shm: true, namedSemaphores: true });
    if (process.platform === 'linux') expect(capabilities).toMatchObject({ futex: true, semTimedwait: true });
  });

  it('fails with one clear sentence on an unsupported platform', () => {
    const output = node([
      '-e',
      `Object.defineProperty(process, 'platform', { value: 'win32' });
       try { require('shmkit'); } catch (error) { console.log(error.code, error.message); }`,
    ]);
    expect(output).toBe(
      "ERR_FEATURE_UNAVAILABLE_ON_PLATFORM shmkit supports Linux and macOS only; this process runs on 'win32'.",
    );
  });
});
