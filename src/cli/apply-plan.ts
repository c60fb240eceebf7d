import { clone, equals, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { normalizeCron } from '../domain/schedule.js';
import { ActionSchema, TaskSchema, TaskState, type Action, type Task } from '../gen/cronplane/v1/task_pb.js';
import type { Style } from './colors.js';
import type { FileTask } from './task-file.js';

/** One step of `tasks apply`: what happens to one task to make the service match the file. */
export type PlanStep =
  | { kind: 'create'; name: string; desired: FileTask }
  | { kind: 'update'; name: string; desired: FileTask; current: Task; changes: string[] }
  | { kind: 'unchanged'; name: string; desired: FileTask; current: Task }
  | { kind: 'delete'; name: string; current: Task };

/** The zone a schedule is read in: empty means UTC, so both spell the same schedule. */
function zoneOf(timeZone: string | undefined): string {
  return timeZone === undefined || timeZone === '' ? 'UTC' : timeZone;
}

/** The service stores HTTP methods upper-case with POST for empty: compare in that form. */
function normalizedAction(action: Action | undefined): Action | undefined {
  if (action === undefined) return undefined;
  const copy = clone(ActionSchema, action);
  if (copy.kind.case === 'http') copy.kind.value.method = copy.kind.value.method.toUpperCase() || 'POST';
  return copy;
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ak = Object.keys(a);
  return ak.length === Object.keys(b).length && ak.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** The effective task state: unset means ENABLED on create. */
function stateOf(state: TaskState): TaskState {
  return state === TaskState.UNSPECIFIED ? TaskState.ENABLED : state;
}

/** Values the service rewrites on the way in (0 attempts is 1, multiplier 0 is the default 2). */
function normalizedLeaf(path: string, value: unknown): unknown {
  if (path === 'retry_policy.max_attempts' && value === 0) return 1;
  if (path === 'retry_policy.multiplier' && value === 0) return 2;
  return value;
}

/** A field's value by update-mask path ("retry_policy.max_attempts"), with its descriptor. */
function leaf(task: Task, path: string): { field: DescField; value: unknown } {
  let desc: DescMessage = TaskSchema;
  let value: unknown = task;
  let field: DescField | undefined;
  for (const part of path.split('.')) {
    if (field !== undefined) {
      if (field.fieldKind !== 'message') throw new Error(`path ${path} goes through a non-message field`);
      desc = field.message;
    }
    field = desc.fields.find((f) => f.name === part);
    if (field === undefined) throw new Error(`unknown path ${path}`);
    value = value === undefined ? undefined : (value as Record<string, unknown>)[field.localName];
  }
  return { field: field!, value };
}

function sameLeaf(path: string, a: Task, b: Task): boolean {
  const { field, value: av } = leaf(a, path);
  const { value: bv } = leaf(b, path);
  if (field.fieldKind === 'message') {
    if (av === undefined || bv === undefined) return av === bv;
    return equals(field.message, av as never, bv as never);
  }
  if (field.fieldKind === 'list' || field.fieldKind === 'map') return JSON.stringify(av) === JSON.stringify(bv);
  return normalizedLeaf(path, av) === normalizedLeaf(path, bv);
}

/**
 * The paths where the service's task differs from the file, looking only at what the file sets:
 * fields the file leaves out are the service's business (defaults, or changes made by hand).
 */
export function changedPaths(desired: FileTask, current: Task): string[] {
  const want = desired.task;
  return desired.paths.filter((path) => {
    switch (path) {
      case 'schedule':
        return (
          normalizeCron(want.schedule?.cron ?? '') !== normalizeCron(current.schedule?.cron ?? '') ||
          zoneOf(want.schedule?.timeZone) !== zoneOf(current.schedule?.timeZone)
        );
      case 'action': {
        const a = normalizedAction(want.action);
        const b = normalizedAction(current.action);
        return a === undefined || b === undefined ? a !== b : !equals(ActionSchema, a, b);
      }
      case 'labels':
        return !sameRecord(want.labels, current.labels);
      case 'state':
        return stateOf(want.state) !== stateOf(current.state);
      default:
        return !sameLeaf(path, want, current);
    }
  });
}

/**
 * The steps that make the service match the file, in file order, deletions last (so a renamed
 * task exists under its new name before the old one goes). `current` holds the file's tasks that
 * exist; `pruneCandidates` the tasks carrying the prune selector.
 */
export function planApply(desired: readonly FileTask[], current: ReadonlyMap<string, Task>, pruneCandidates: readonly Task[] = []): PlanStep[] {
  const steps: PlanStep[] = desired.map((d): PlanStep => {
    const existing = current.get(d.name);
    if (existing === undefined) return { kind: 'create', name: d.name, desired: d };
    const changes = changedPaths(d, existing);
    return changes.length === 0
      ? { kind: 'unchanged', name: d.name, desired: d, current: existing }
      : { kind: 'update', name: d.name, desired: d, current: existing, changes };
  });
  const wanted = new Set(desired.map((d) => d.name));
  for (const task of pruneCandidates) {
    if (!wanted.has(task.name)) steps.push({ kind: 'delete', name: task.name, current: task });
  }
  return steps;
}

const VERBS = {
  create: ['create', 'created'],
  update: ['update', 'updated'],
  unchanged: ['unchanged', 'unchanged'],
  delete: ['delete', 'deleted'],
} as const;

/**
 * One plan line: "update     backup  (schedule, retry_policy.max_attempts)"; past tense once done.
 * `nameWidth` (the longest name) lines the change lists up.
 */
export function formatPlanStep(step: PlanStep, done: boolean, style: Style, nameWidth = 0): string {
  const verb = VERBS[step.kind][done ? 1 : 0];
  const colour = { create: style.green, update: style.yellow, unchanged: style.dim, delete: style.red }[step.kind];
  const changes = step.kind === 'update' ? `${' '.repeat(Math.max(0, nameWidth - step.name.length))}  (${step.changes.join(', ')})` : '';
  return `${colour(verb)}${' '.repeat(11 - verb.length)}${step.name}${changes}`;
}

/** "1 created, 2 unchanged": the last line of an apply. */
export function summarizePlan(steps: readonly PlanStep[], done: boolean): string {
  const count = (kind: PlanStep['kind']) => steps.filter((s) => s.kind === kind).length;
  const kinds = ['create', 'update', 'unchanged', 'delete'] as const;
  return kinds.map((k) => (done || k === 'unchanged' ? `${count(k)} ${VERBS[k][1]}` : `${count(k)} to ${k}`)).join(', ');
}
