import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { ParseArgsConfig } from 'node:util';
import type { SchedulerClient } from '../client/scheduler-client.js';
import { GLOBAL_USAGE, parseCommandArgs, type ParsedValues } from './args.js';
import { createStyle, type Style } from './colors.js';
import { openClient, plaintextTokenWarning, resolveConnection, type ConnectionFlags } from './connection.js';
import { EXIT_OK, UsageError } from './errors.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** The process around a command, passed in so tests and the entry point decide where output goes. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** What a command works with: output, style, the lazily opened client, and the clock. */
export interface CommandContext {
  readonly io: CliIo;
  readonly style: Style;
  readonly json: boolean;
  /** The command's full help, for usage errors. */
  readonly usage: string;
  now(): number;
  /** Opened on first use (so `--help` and usage errors never connect), closed after the command. */
  client(): SchedulerClient;
  out(text: string): void;
  err(text: string): void;
  /** Protobuf JSON of a response message, pretty-printed: what --json prints. */
  printJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void;
}

/** A command's definition: its options are parsed (with the global ones) before `run` sees them. */
export interface CommandDefinition<O extends OptionsConfig> {
  /** Words after `cronplane`, e.g. "tasks create". */
  name: string;
  /** One line for the command list. */
  summary: string;
  usage: string;
  options: O;
  run(ctx: CommandContext, values: ParsedValues<O>, positionals: string[]): Promise<number>;
}

/** A command with its option types erased, so commands of every shape sit in one table. */
export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  execute(argv: readonly string[], io: CliIo): Promise<number>;
}

/** Full help of a command: its own usage plus the global options. */
function helpOf(usage: string): string {
  return `${usage.trimEnd()}\n\n${GLOBAL_USAGE}`;
}

/** Binds a definition to the shared parsing, help, connection and cleanup. */
export function defineCommand<const O extends OptionsConfig>(def: CommandDefinition<O>): CliCommand {
  return {
    name: def.name,
    summary: def.summary,
    usage: def.usage,
    async execute(argv, io) {
      const { values, positionals } = parseCommandArgs(argv, def.options, helpOf(def.usage));
      if (values.help === true) {
        io.stdout.write(helpOf(def.usage));
        return EXIT_OK;
      }
      let client: SchedulerClient | undefined;
      const ctx: CommandContext = {
        io,
        style: createStyle(io.stdout, io.env),
        json: values.json === true,
        usage: helpOf(def.usage),
        now: () => Date.now(),
        client() {
          if (client === undefined) {
            const settings = resolveConnection(values as ConnectionFlags, io.env);
            const warning = plaintextTokenWarning(settings);
            if (warning !== undefined) io.stderr.write(warning);
            client = openClient(settings);
          }
          return client;
        },
        out: (text) => void io.stdout.write(text),
        err: (text) => void io.stderr.write(text),
        printJson(schema, message) {
          io.stdout.write(`${JSON.stringify(toJson(schema, message), null, 2)}\n`);
        },
      };
      try {
        return await def.run(ctx, values, positionals);
      } catch (err) {
        // Usage errors raised deep down (a bad flag value) still point at this command's synopsis.
        if (err instanceof UsageError && err.usage === undefined) throw new UsageError(err.message, def.usage);
        throw err;
      } finally {
        client?.close();
      }
    },
  };
}
