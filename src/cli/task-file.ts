import { readFileSync } from 'node:fs';
import { fromJson, ScalarType, type DescEnum, type DescField, type DescMessage, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { parse as parseYaml } from 'yaml';
import { TaskSchema, type Task } from '../gen/cronplane/v1/task_pb.js';
import { durationJsonFromMs, parseDurationText } from './duration-text.js';
import { enumChoices, enumProtoName, parseEnumLabel } from './enum-names.js';
import { TaskFileError } from './errors.js';

/**
 * Task files (`tasks apply -f`): YAML or JSON with a top-level `tasks:` list of Task messages in
 * the proto's field names (snake_case; the camelCase JSON names are accepted too). People write
 * the friendly forms, converted here before protobuf-es `fromJson` builds the messages:
 * durations as "30s", "5m", "1h30m" (or a number of seconds), payload/body as plain text (UTF-8,
 * not base64), enums as "skip", "buffer-one", "paused" (the full "OVERLAP_POLICY_SKIP" works too).
 */

/** One task of a file: the message to send, and which fields the file sets (what apply compares). */
export interface FileTask {
  name: string;
  task: Task;
  /**
   * Update-mask paths the file sets. `schedule`, `action` and `labels` are whole units (a schedule
   * without a zone means UTC; the action and the label set are what the file says, nothing else);
   * `retry_policy` is per field; `state` is applied with PauseTask/ResumeTask.
   */
  paths: string[];
  /** Where in the file, for messages: "tasks[2]". */
  source: string;
}

/** Fields compared and replaced as one unit rather than field by field. */
const UNIT_FIELDS = new Set(['schedule', 'action', 'labels']);

/** Task fields the service sets; a file that carries them was probably copied from output. */
const OUTPUT_ONLY = new Set([
  'next_run_times', 'create_time', 'update_time', 'etag', 'last_execution', 'paused_reason', 'run_count',
  'consecutive_failures', 'created_by', 'updated_by',
]);

const utf8 = new TextEncoder();

function describe(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

class Converter {
  readonly problems: string[] = [];

  private problem(path: string, text: string): undefined {
    this.problems.push(`${path}: ${text}`);
    return undefined;
  }

  message(desc: DescMessage, value: unknown, path: string): JsonObject | undefined {
    if (!isPlainObject(value)) return this.problem(path, `expected a mapping (key: value), got ${describe(value)}`);
    const out: JsonObject = {};
    const oneofs = new Map<string, string>();
    for (const [key, v] of Object.entries(value)) {
      const field = desc.fields.find((f) => f.name === key || f.jsonName === key);
      const at = `${path}.${key}`;
      if (field === undefined) {
        this.problem(at, `unknown field; ${desc.name} has ${desc.fields.filter((f) => !(desc === TaskSchema && OUTPUT_ONLY.has(f.name))).map((f) => f.name).join(', ')}`);
        continue;
      }
      if (desc === TaskSchema && OUTPUT_ONLY.has(field.name)) {
        this.problem(at, 'is output only (set by the service); remove it');
        continue;
      }
      if (v === null || v === undefined) continue;
      if (field.oneof !== undefined) {
        const other = oneofs.get(field.oneof.name);
        if (other !== undefined) this.problem(path, `choose one of ${field.oneof.fields.map((f) => f.name).join(', ')}, not both ${other} and ${field.name}`);
        oneofs.set(field.oneof.name, field.name);
      }
      const converted = this.field(field, v, `${path}.${field.name}`);
      if (converted !== undefined) out[field.name] = converted;
    }
    return out;
  }

  private field(field: DescField, value: unknown, path: string): JsonValue | undefined {
    switch (field.fieldKind) {
      case 'scalar':
        return this.scalar(field.scalar, value, path);
      case 'enum':
        return this.enumValue(field.enum, value, path);
      case 'message':
        return this.messageValue(field.message, value, path);
      case 'list': {
        if (!Array.isArray(value)) return this.problem(path, `expected a list, got ${describe(value)}`);
        const items = value.map((item, i) => {
          const at = `${path}[${i}]`;
          if (field.listKind === 'scalar') return this.scalar(field.scalar, item, at);
          if (field.listKind === 'enum') return this.enumValue(field.enum, item, at);
          return this.messageValue(field.message, item, at);
        });
        return items.every((i) => i !== undefined) ? (items as JsonValue[]) : undefined;
      }
      case 'map': {
        if (!isPlainObject(value)) return this.problem(path, `expected a mapping, got ${describe(value)}`);
        const out: JsonObject = {};
        for (const [k, v] of Object.entries(value)) {
          const at = `${path}.${k}`;
          const converted =
            field.mapKind === 'scalar'
              ? this.scalar(field.scalar, v, at)
              : field.mapKind === 'enum'
                ? this.enumValue(field.enum, v, at)
                : this.messageValue(field.message, v, at);
          if (converted !== undefined) out[k] = converted;
        }
        return out;
      }
    }
  }

  private messageValue(desc: DescMessage, value: unknown, path: string): JsonValue | undefined {
    if (desc.typeName === 'google.protobuf.Duration') {
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return durationJsonFromMs(Math.round(value * 1000));
      const ms = typeof value === 'string' ? parseDurationText(value) : undefined;
      return ms === undefined ? this.problem(path, `expected a duration such as 500ms, 30s, 5m or 1h30m, got ${describe(value)}`) : durationJsonFromMs(ms);
    }
    if (desc.typeName === 'google.protobuf.Timestamp') {
      const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
      return Number.isNaN(ms) ? this.problem(path, `expected an RFC 3339 time such as 2026-01-01T00:00:00Z, got ${describe(value)}`) : new Date(ms).toISOString();
    }
    return this.message(desc, value, path);
  }

  private enumValue(desc: DescEnum, value: unknown, path: string): JsonValue | undefined {
    const number = typeof value === 'string' ? parseEnumLabel(desc, value) : undefined;
    const name = number === undefined ? undefined : enumProtoName(desc, number);
    return name ?? this.problem(path, `expected one of ${enumChoices(desc).join(', ')}, got ${describe(value)}`);
  }

  private scalar(type: ScalarType, value: unknown, path: string): JsonValue | undefined {
    switch (type) {
      case ScalarType.STRING:
        // YAML reads `version: 2` as a number; a label or header value is text all the same.
        if (typeof value === 'number' || typeof value === 'boolean') return String(value);
        return typeof value === 'string' ? value : this.problem(path, `expected text, got ${describe(value)}`);
      case ScalarType.BYTES:
        if (typeof value !== 'string') return this.problem(path, `expected plain text, got ${describe(value)}`);
        return Buffer.from(utf8.encode(value)).toString('base64');
      case ScalarType.BOOL:
        return typeof value === 'boolean' ? value : this.problem(path, `expected true or false, got ${describe(value)}`);
      case ScalarType.DOUBLE:
      case ScalarType.FLOAT:
        return typeof value === 'number' ? value : this.problem(path, `expected a number, got ${describe(value)}`);
      default:
        return typeof value === 'number' && Number.isInteger(value) ? value : this.problem(path, `expected a whole number, got ${describe(value)}`);
    }
  }
}

/** Which update-mask paths one converted task sets (see FileTask.paths). */
function pathsOf(json: JsonObject): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === 'name') continue;
    const field = TaskSchema.fields.find((f) => f.name === key)!;
    const nested = field.fieldKind === 'message' && !UNIT_FIELDS.has(key) && !field.message.typeName.startsWith('google.protobuf.');
    if (nested) paths.push(...Object.keys(value as JsonObject).map((sub) => `${key}.${sub}`));
    else paths.push(key);
  }
  return paths;
}

/** Parses a task file's text; every problem in it is reported at once, with its place in the file. */
export function parseTaskFile(text: string, file: string): FileTask[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TaskFileError(file, [(err as Error).message.split('\n')[0]!.replace(/:$/, '')]);
  }
  if (!isPlainObject(doc) || !Array.isArray(doc['tasks'])) throw new TaskFileError(file, ['expected a top-level "tasks:" list']);
  const problems: string[] = [];
  for (const key of Object.keys(doc)) if (key !== 'tasks') problems.push(`${key}: unknown top-level key (only "tasks")`);
  const tasks: FileTask[] = [];
  const seen = new Map<string, string>();
  doc['tasks'].forEach((item: unknown, i: number) => {
    const source = `tasks[${i}]`;
    const converter = new Converter();
    const json = converter.message(TaskSchema, item, source);
    problems.push(...converter.problems);
    if (json === undefined || converter.problems.length > 0) return;
    const name = json['name'];
    if (typeof name !== 'string' || name === '') {
      problems.push(`${source}.name: required`);
      return;
    }
    const earlier = seen.get(name);
    if (earlier !== undefined) problems.push(`${source}.name: "${name}" is also ${earlier}`);
    seen.set(name, source);
    try {
      tasks.push({ name, task: fromJson(TaskSchema, json), paths: pathsOf(json), source });
    } catch (err) {
      problems.push(`${source}: ${(err as Error).message}`);
    }
  });
  if (problems.length > 0) throw new TaskFileError(file, problems);
  return tasks;
}

/** Reads and parses a task file; "-" reads standard input. */
export function readTaskFile(path: string): FileTask[] {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TaskFileError(path, [code === 'ENOENT' ? 'no such file' : (err as Error).message], true);
  }
  return parseTaskFile(text, path === '-' ? '<stdin>' : path);
}
