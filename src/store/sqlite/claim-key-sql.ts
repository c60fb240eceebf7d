/**
 * The third column of the executions_task index (schema.ts, migration 5): '' for a scheduled
 * or catch-up execution, so one per task and instant; the id for a MANUAL one. A query that
 * filters on it being '' asks for non-manual executions and is answered from the index alone;
 * SQLite matches the expression only if it is written the same way (a test checks the plans).
 */
const CLAIM_KEY_SQL = "(CASE WHEN trigger = 'MANUAL' THEN id ELSE '' END)";

/** Non-manual executions (they claim their occurrence), decided from the index. */
export const CLAIMS_OCCURRENCE_SQL = `${CLAIM_KEY_SQL} = ''`;
