#!/usr/bin/env node
/**
 * The `shmkit` command (package.json "bin": dist/tooling/cli/main.js).
 *
 * Subcommands are discovered, not listed: every module in this directory
 * (other than main) that exports `register(program: Command)` adds its
 * command, in file-name order. Adding a subcommand is adding one file,
 * lib/tooling/cli/NAME.ts — keep its top level light (declare the command; import
 * heavy things inside the action), since `shmkit ls` loads every module.
 * Helper modules that are not subcommands are named `_NAME.ts` and not loaded.
 *
 * Exit codes: 0 ok; 1 something failed (the message says what); 2 usage
 * error (unknown command or option, bad value, missing argument). A
 * subcommand reports a usage error with `command.error(message, { exitCode: 2 })`
 * and a failure by printing it and setting `process.exitCode = 1`, or by throwing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';

export const EXIT_USAGE = 2;

/** A subcommand module: registers its command on the program. */
export interface SubcommandModule {
  register(program: Command): void;
}

function version(): string {
  try {
    return (require('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function subcommandModules(): string[] {
  return fs
    .readdirSync(__dirname)
    .filter((file) => /^[a-z][\w-]*\.js$/.test(file) && file !== 'main.js')
    .sort();
}

/** The commander program with every subcommand registered. */
export function buildProgram(): Command {
  const program = new Command('shmkit')
    .description('Kernel IPC for Node.js: list and remove IPC objects, and more.')
    .version(version(), '-V, --version')
    .showSuggestionAfterError()
    .exitOverride(); // inherited by the subcommands registered below
  for (const file of subcommandModules()) {
    let module: Partial<SubcommandModule>;
    try {
      module = require(path.join(__dirname, file)) as Partial<SubcommandModule>;
    } catch (error) {
      process.stderr.write(`shmkit: cannot load the subcommand in ${file}: ${(error as Error).message}\n`);
      continue;
    }
    if (typeof module.register === 'function') module.register(program);
  }
  return program;
}

/** A failure in one line: its message, and shmkit's own code (ERR_SHMKIT_…) so scripts and searches can match it. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_SHMKIT_') ? `${error.message} (${code})` : error.message;
}

/** Runs the CLI on `argv` (as process.argv) and resolves with its exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    // Commander has already printed its message (usage errors, --help, --version).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    process.stderr.write(`shmkit: ${describeFailure(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
