import type Database from 'better-sqlite3';

/**
 * Prepared statements for queries whose SQL depends on the request's shape (filters, number
 * of states): prepared on first use and reused. Bounded, because label filters can produce
 * any number of shapes; when full it starts over, which only costs a re-prepare.
 */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly maxSize = 128,
  ) {}

  get(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= this.maxSize) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
