import type { TaskFilter } from '../../domain/task-filter.js';
import { TASK_COLUMNS } from './statements.js';

/** SQL text and its positional parameters, in order. */
export interface SqlQuery {
  sql: string;
  params: (string | number)[];
}

/**
 * The highest code point: appended to a prefix it bounds the range of names that start with
 * it (names are ASCII, so every continuation sorts below it in SQLite's byte-wise order).
 */
const MAX_CODE_POINT = String.fromCodePoint(0x10ffff);

/** Compare as SQLite's BINARY collation does: UTF-8 bytes, not UTF-16 code units. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * One ListTasks page as SQL, so filtering happens in SQLite on the indexes instead of in
 * memory: state uses tasks_state_name; the page position and the name prefix become ONE
 * range on the primary key (two lower bounds would let SQLite pick the weaker one and walk
 * every name before the prefix); each label is an exact key/value match in the small
 * `labels` JSON column (json_each compares decoded keys, so any key works, including ones
 * a JSON path could not spell).
 * The SQL text depends only on the request's shape (which terms, how many labels), so the
 * store can cache one prepared statement per shape.
 */
export function listTasksSql(afterName: string, filter: TaskFilter, limit: number): SqlQuery {
  const terms: string[] = [];
  const params: (string | number)[] = [];
  const prefix = filter.namePrefix ?? '';
  if (prefix !== '' && compareUtf8(afterName, prefix) < 0) {
    terms.push('name >= ? AND name < ?');
    params.push(prefix, prefix + MAX_CODE_POINT);
  } else {
    terms.push('name > ?');
    params.push(afterName);
    if (prefix !== '') {
      terms.push('name < ?');
      params.push(prefix + MAX_CODE_POINT);
    }
  }
  if (filter.state !== undefined) {
    terms.push('state = ?');
    params.push(filter.state);
  }
  for (const key of Object.keys(filter.labels).sort()) {
    terms.push(
      "EXISTS (SELECT 1 FROM json_each(tasks.labels) WHERE json_each.key = ? AND json_each.type = 'text' AND json_each.value = ?)",
    );
    params.push(key, filter.labels[key]!);
  }
  params.push(limit);
  return { sql: `SELECT ${TASK_COLUMNS} FROM tasks WHERE ${terms.join(' AND ')} ORDER BY name LIMIT ?`, params };
}
