// Describes the machine a benchmark ran on: absolute numbers mean little
// without it, and a reader compares runs by this line first.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

function readCpuModel() {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1].trim();
  } catch {
    // not Linux: fall back to os.cpus()
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

function readShmkitVersion() {
  try {
    return createRequire(import.meta.url)('shmkit/package.json').version;
  } catch {
    return 'unknown';
  }
}

/** Everything a reader needs to place the numbers: CPU, cores, kernel, Node, shmkit, load when we started. */
export function describeMachine() {
  return {
    cpuModel: readCpuModel(),
    cores: os.availableParallelism(),
    logicalCpus: os.cpus().length,
    arch: process.arch,
    kernel: `${os.type()} ${os.release()}`,
    kernelVersion: os.version(),
    node: process.version,
    v8: process.versions.v8,
    shmkit: readShmkitVersion(),
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

/** One header line. */
export function machineLine(machine) {
  return (
    `machine: ${machine.cpuModel}, ${machine.cores} cores (${machine.arch}), ${machine.kernel}, ` +
    `Node ${machine.node} (V8 ${machine.v8}), shmkit ${machine.shmkit}, ${machine.totalMemoryGiB} GiB RAM, ` +
    `load average at start ${machine.loadAverage.join(' / ')}`
  );
}
