/**
 * The README's `npm run demo`. Its code examples run in docs-examples.test.ts,
 * with those of docs/*.md.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');

describe('README demo', () => {
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
