/**
 * `shmkit stat NAME`: a service's state, server and counters, or a topic's
 * publisher, counters and subscribers, read from its shared header in
 * /dev/shm by any process (docs/cli.md). Per-method
 * durations live only in the server's process: `service.methodStats()` or
 * `service.metricsText()` there.
 */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { Service } from '../../services/service.js';
import { Topic } from '../../structures/topic/topic.js';

interface StatOptions {
  json?: boolean;
}

/** `callsStarted` → `calls started`. */
function words(key: string): string {
  return key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

/** A topic: its publisher, policy, counters and one row per subscriber. */
function statTopic(name: string, options: StatOptions): boolean {
  const info = Topic.stat(name);
  if (!info) return false;
  if (options.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return true;
  }
  const publisher = `pid ${info.pid} (${info.alive ? 'alive' : 'dead'})`;
  process.stdout.write(
    `topic ${info.name}: ${info.state}, publisher ${publisher}, slowSubscriber '${info.slowSubscriber}', ` +
      `${info.capacityBytes} bytes, ${info.subscribers.length} of ${info.maxSubscribers} subscribers, ` +
      `created ${info.createdAt.toISOString()}\n`,
  );
  const counters = new Table({ head: ['counter', 'value'], style: { head: [], border: [] } });
  for (const key of ['published', 'overwritten', 'evicted'] as const) counters.push([key, String(info[key])]);
  process.stdout.write(`${counters.toString()}\n`);
  const subs = new Table({
    head: ['slot', 'pid', 'alive', 'state', 'delivered', 'lagged', 'behind bytes'],
    style: { head: [], border: [] },
  });
  for (const sub of info.subscribers) {
    subs.push([sub.slot, sub.pid, sub.alive, sub.state, sub.delivered, sub.lagged, sub.behindBytes].map(String));
  }
  process.stdout.write(`${subs.toString()}\n`);
  return true;
}

function stat(name: string, options: StatOptions): void {
  const info = Service.stat(name);
  if (!info) {
    if (statTopic(name, options)) return;
    process.stderr.write(`shmkit stat: '${name}' is not a shmkit service or topic (or not readable by this user)\n`);
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
    .description(
      "a service's state, server and counters (calls, bytes, connections…), or a topic's publisher, counters and subscribers, from its shared header",
    )
    .argument('<name>', 'the service or topic, e.g. /calc')
    .option('--json', 'print the info and counters as JSON (shape: docs/cli.md)')
    .action(stat);
}
