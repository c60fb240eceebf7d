#!/usr/bin/env node
import { GLOBAL_USAGE, splitLeadingGlobals } from './args.js';
import type { CliCommand, CliIo } from './command.js';
import { COMMAND_GROUPS, TOP_LEVEL_COMMANDS } from './command-list.js';
import { describeError, EXIT_BAD_INPUT, EXIT_OK, exitCodeOf, UsageError } from './errors.js';

function commandLines(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}\n`).join('');
}

function groupUsage(group: string, commands: readonly CliCommand[]): string {
  return `usage: cronplane ${group} <command> [options]\n\ncommands:\n${commandLines(commands)}\nRun \`cronplane ${group} <command> --help\` for its options.\n`;
}

const USAGE = `usage: cronplane <command> [options]

commands:
  serve${' '.repeat(Math.max(2, Math.max(...[...COMMAND_GROUPS.values()].flat().concat(TOP_LEVEL_COMMANDS).map((c) => c.name.length)) - 3))}run the scheduler service (configuration: flags or CRONPLANE_* variables)
${commandLines([...[...COMMAND_GROUPS.values()].flat(), ...TOP_LEVEL_COMMANDS])}
${GLOBAL_USAGE}
Run \`cronplane <command> --help\` for a command's options.
`;

const isHelp = (word: string | undefined) => word === 'help' || word === '--help' || word === '-h';

/** Finds the command the words name and runs it with the remaining arguments. */
async function dispatch(argv: string[], io: CliIo): Promise<number> {
  if (argv[0] === 'serve') {
    // Loaded only here: the service's modules (SQLite, NATS, metrics) would slow every client command.
    const { serveCommand } = await import('./serve-command.js');
    return serveCommand(argv.slice(1));
  }
  const { globals, rest } = splitLeadingGlobals(argv);
  const [word, sub, ...more] = rest;
  if (word === undefined || isHelp(word)) {
    if (word === undefined && globals.some((g) => g === '--help' || g === '-h')) {
      io.stdout.write(USAGE);
      return EXIT_OK;
    }
    (word === undefined ? io.stderr : io.stdout).write(USAGE);
    return word === undefined ? EXIT_BAD_INPUT : EXIT_OK;
  }
  const group = COMMAND_GROUPS.get(word);
  if (group !== undefined) {
    if (sub === undefined || isHelp(sub)) {
      (sub === undefined ? io.stderr : io.stdout).write(groupUsage(word, group));
      return sub === undefined ? EXIT_BAD_INPUT : EXIT_OK;
    }
    const command = group.find((c) => c.name === `${word} ${sub}`);
    if (command === undefined) throw new UsageError(`unknown command "${word} ${sub}"`, groupUsage(word, group), true);
    return command.execute([...more, ...globals], io);
  }
  const top = TOP_LEVEL_COMMANDS.find((c) => c.name === word);
  if (top !== undefined) return top.execute([...rest.slice(1), ...globals], io);
  throw new UsageError(`unknown command "${word}"`, USAGE, true);
}

/**
 * grpc-js sets the TLS server name to the host even when it is an IP address, which Node flags
 * as deprecated (DEP0123) on every TLS connection by address: noise for a person, so dropped.
 */
function muteTlsServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, typeOrOptions, code] = args;
    const warningCode = typeof typeOrOptions === 'object' && typeOrOptions !== null ? (typeOrOptions as { code?: string }).code : code;
    if (warningCode === 'DEP0123') return;
    emit(...args);
  }) as typeof process.emitWarning;
}

/** The `cronplane` command: `serve` runs the service, everything else talks to one. */
async function main(argv: string[]): Promise<number> {
  if (argv[0] !== 'serve') muteTlsServerNameWarning();
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  // `cronplane tasks list | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
  });
  try {
    return await dispatch(argv, io);
  } catch (err) {
    io.stderr.write(describeError(err));
    if ((process.env['CRONPLANE_DEBUG'] ?? '') !== '' && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    return exitCodeOf(err);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`cronplane: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
