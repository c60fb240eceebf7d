import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './schema.js';

/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5_000;
/** Truncate the WAL file back to this size after a checkpoint, so one burst does not keep it big. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Open (creating it and its directory if needed) and migrate a cronplane SQLite file.
 *
 * Durability: WAL with synchronous=NORMAL. A commit is appended to the WAL by write() before
 * it returns, so it survives the process dying at any point (crash, SIGKILL, OOM kill): the
 * OS page cache still holds it and the next open replays the WAL. Only an OS crash or power
 * loss can lose the last transactions (those not yet fsynced at a checkpoint), and even then
 * the file stays consistent. FULL would fsync every commit and cap fires per second at the
 * disk's fsync rate, for a loss window that only concerns a machine going down.
 */
export function openDatabase(path: string): Database.Database {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (!inMemory && mode !== 'wal') throw new Error(`could not switch ${path} to WAL (journal_mode=${String(mode)})`);
    db.pragma('synchronous = NORMAL');
    // Nothing relies on SQLite enforcing references (outbox -> events is maintained by the store).
    db.pragma('foreign_keys = OFF');
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
