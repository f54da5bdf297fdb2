/** The README's examples run as written and leave nothing behind. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');

describe('README examples', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  it.each(examples.map((code, i) => [i, code] as const))('example %i runs and cleans up', (_i, code) => {
    // Inside the package root, so that `import 'shmkit'` resolves to this package.
    const file = path.join(root, `.readme-example-${process.pid}-${_i}.mjs`);
    fs.writeFileSync(file, code);
    try {
      const output = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
      expect(output.length).toBeGreaterThan(0);
    } finally {
      fs.rmSync(file);
    }
    // The examples name everything "quickstart-…" (other test files run at the same time).
    expect(code).toContain("'/quickstart-");
    expect(fs.readdirSync('/dev/shm').filter((name) => name.includes('quickstart-'))).toEqual([]);
  });

  it('the demo moves data between two processes and verifies the checksum', () => {
    const output = execFileSync(
      process.execPath,
      [path.join(root, 'examples/transfer.mjs'), '--total-mib', '16', '--chunk-kib', '256'],
      { encoding: 'utf8', timeout: 60_000, cwd: os.tmpdir() },
    );
    expect(output).toMatch(/moved 16 MiB in 64 chunks/);
    expect(output).toContain('checksum OK');
  });
});
