#!/usr/bin/env node
import { serveCommand } from './serve-command.js';

const USAGE = `usage: cronplane <command>

commands:
  serve     run the scheduler service (configuration: flags or CRONPLANE_* variables)
`;

/** The `cronplane` command: dispatches to its subcommands. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`cronplane: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`cronplane: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
