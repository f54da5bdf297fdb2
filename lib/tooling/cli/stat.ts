/**
 * `shmkit stat NAME`: a service's state, server and counters, read from its
 * shared header in /dev/shm by any process (docs/cli.md). Per-method
 * durations live only in the server's process: `service.methodStats()` or
 * `service.metricsText()` there.
 */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { Service } from '../../services/service.js';

interface StatOptions {
  json?: boolean;
}

/** `callsStarted` → `calls started`. */
function words(key: string): string {
  return key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

function stat(name: string, options: StatOptions): void {
  const info = Service.stat(name);
  if (!info) {
    process.stderr.write(`shmkit stat: '${name}' is not a shmkit service (or not readable by this user)\n`);
    process.exitCode = 1;
    return;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return;
  }
  const server = `pid ${info.pid} (${info.alive ? 'alive' : 'dead'})`;
  process.stdout.write(
    `service ${info.name}: ${info.state}, server ${server}, ${info.clients} of ${info.maxClients} clients, ` +
      `created ${info.createdAt.toISOString()}\n`,
  );
  const table = new Table({ head: ['counter', 'value'], style: { head: [], border: [] } });
  for (const [key, value] of Object.entries(info.counters)) table.push([words(key), String(value)]);
  process.stdout.write(`${table.toString()}\n`);
}

export function register(program: Command): void {
  program
    .command('stat')
    .description("a service's state, server and counters (calls, bytes, connections…), from its shared header")
    .argument('<name>', 'the service, e.g. /calc')
    .option('--json', 'print the info and counters as JSON (shape: docs/cli.md)')
    .action(stat);
}
