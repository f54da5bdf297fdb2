import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FIXTURES, uniqueName } from './helpers.js';

describe('SharedMemory in a worker thread', () => {
  // Node tracks the descriptors fs opens per thread and warns when fs closes
  // one it did not open there ("File descriptor N closed but not opened in
  // unmanaged mode"): shm_open's descriptor is closed natively instead.
  it('closes a SharedMemory and a RingBuffer without a file-descriptor warning', async () => {
    const worker = new Worker(path.join(FIXTURES, 'shm-worker-close.cjs'), {
      stderr: true,
      workerData: { root: path.join(__dirname, '..'), shmName: uniqueName('shm'), ringName: uniqueName('ring') },
    });
    let stderr = '';
    worker.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const stderrEnded = new Promise((resolve) => worker.stderr.once('end', resolve));
    const warnings: string[] = [];
    const exited = new Promise<number>((resolve, reject) => {
      worker.on('message', (message) => {
        if (typeof message === 'object' && message && 'warning' in message) warnings.push(String(message.warning));
      });
      worker.once('error', reject);
      worker.once('exit', resolve);
    });
    expect(await exited).toBe(0);
    await stderrEnded;
    expect(warnings).toEqual([]);
    expect(stderr).not.toMatch(/closed but not opened|Warning/);
  });
});
