import { InvalidArgumentError } from './errors.js';
import type { TaskFilter } from './task-filter.js';
import type { TaskState } from './task.js';

/**
 * ListTasks' filter language: `key=value` terms joined by AND, e.g.
 * `state=PAUSED AND labels.team=billing AND name=backup*`. Deliberately tiny: every store can
 * apply it, in SQL or in memory.
 */

const LABEL_KEY = /^[a-z][a-z0-9_.-]{0,62}$/;
const NAME_PREFIX = /^[a-z0-9_-]*$/;
const STATES: Readonly<Record<string, TaskState>> = {
  ENABLED: 'ENABLED',
  PAUSED: 'PAUSED',
  TASK_STATE_ENABLED: 'ENABLED',
  TASK_STATE_PAUSED: 'PAUSED',
};

/** Parses a ListTasks filter; an empty string matches every task. Throws InvalidArgumentError on `field`. */
export function parseTaskFilter(filter: string, field = 'filter'): TaskFilter {
  const result: TaskFilter = { labels: {} };
  const fail: Fail = (at, message) => {
    throw new InvalidArgumentError([{ field, description: `at position ${at + 1}: ${message}` }]);
  };
  let pos = skipSpace(filter, 0);
  if (pos === filter.length) return result;
  for (;;) {
    const keyMatch = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(filter.slice(pos));
    if (keyMatch === null) fail(pos, 'expected a key: state, name or labels.<key>');
    const key = keyMatch[0];
    const keyAt = pos;
    pos = skipSpace(filter, pos + key.length);
    if (filter[pos] !== '=') {
      const op = /^(!=|<=|>=|[:<>~])/.exec(filter.slice(pos));
      fail(pos, op !== null ? `operator "${op[0]}" is not supported, only "="` : `expected "=" after "${key}"`);
    }
    pos = skipSpace(filter, pos + 1);
    const valueAt = pos;
    let value: string;
    [value, pos] = readValue(filter, pos, fail);
    applyTerm(result, key, value, keyAt, valueAt, fail);
    const afterValue = pos;
    pos = skipSpace(filter, pos);
    if (pos === filter.length) return result;
    const and = /^AND(?=\s|$)/i.exec(filter.slice(pos));
    if (pos === afterValue || and === null) {
      const word = /^\S+/.exec(filter.slice(pos))?.[0] ?? '';
      fail(pos, word.toUpperCase() === 'OR' ? 'only AND is supported between terms' : `expected AND or the end, got "${word}"`);
    }
    pos = skipSpace(filter, pos + 3);
    if (pos === filter.length) fail(pos, 'expected a term after AND');
  }
}

/** The reference semantics of a TaskFilter: what every store's query must agree with. */
export function matchesTaskFilter(
  task: { name: string; state: TaskState; labels: Record<string, string> },
  filter: TaskFilter,
): boolean {
  if (filter.state !== undefined && task.state !== filter.state) return false;
  if (filter.namePrefix !== undefined && !task.name.startsWith(filter.namePrefix)) return false;
  for (const [key, value] of Object.entries(filter.labels)) {
    if (!Object.hasOwn(task.labels, key) || task.labels[key] !== value) return false;
  }
  return true;
}

type Fail = (at: number, message: string) => never;

function applyTerm(result: TaskFilter, key: string, value: string, keyAt: number, valueAt: number, fail: Fail): void {
  if (key === 'state') {
    const state = STATES[value.toUpperCase()];
    if (state === undefined) fail(valueAt, `state must be ENABLED or PAUSED, got "${value}"`);
    if (result.state !== undefined && result.state !== state) fail(keyAt, 'state is given twice with different values');
    result.state = state;
  } else if (key === 'name') {
    if (!value.endsWith('*')) fail(valueAt, `name filters by prefix: write name=${value}* (exact match is GetTask)`);
    const prefix = value.slice(0, -1);
    if (!NAME_PREFIX.test(prefix)) fail(valueAt, "a name prefix may contain only a-z, 0-9, '_' and '-' before the final '*'");
    if (result.namePrefix !== undefined) fail(keyAt, 'name is given twice');
    result.namePrefix = prefix;
  } else if (key.startsWith('labels.')) {
    const label = key.slice('labels.'.length);
    if (!LABEL_KEY.test(label)) fail(keyAt + 'labels.'.length, `"${label}" is not a valid label key`);
    if (Object.hasOwn(result.labels, label) && result.labels[label] !== value) {
      fail(keyAt, `labels.${label} is given twice with different values`);
    }
    result.labels[label] = value;
  } else {
    fail(keyAt, `unknown key "${key}": use state, name or labels.<key>`);
  }
}

function readValue(text: string, pos: number, fail: Fail): [string, number] {
  if (text[pos] === '"') {
    let value = '';
    for (let i = pos + 1; i < text.length; i++) {
      const c = text[i] as string;
      if (c === '"') return [value, i + 1];
      if (c === '\\') {
        const next = text[i + 1];
        if (next !== '"' && next !== '\\') fail(i, 'only \\" and \\\\ may be escaped in a quoted value');
        value += next;
        i++;
      } else value += c;
    }
    return fail(pos, 'unterminated quoted value');
  }
  const bare = /^[^\s"]+/.exec(text.slice(pos));
  if (bare === null) return fail(pos, 'expected a value (quote it with "..." if it has spaces or is empty)');
  return [bare[0], pos + bare[0].length];
}

function skipSpace(text: string, pos: number): number {
  let i = pos;
  while (i < text.length && /\s/.test(text[i] as string)) i++;
  return i;
}
