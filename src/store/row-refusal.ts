import { DatabaseError } from 'pg';

/**
 * SQLSTATE classes of an error about the data of the statement, which the same rows would meet on every retry:
 * 21 cardinality violation, 22 data exception (a value out of range, NUL in jsonb, a bad time), 23 integrity
 * constraint violation, 54 program limit exceeded (a value too large). Anything else (the connection, the server
 * shutting down, a timeout, a missing privilege) may pass on a retry, so it is not a refusal.
 */
const ROW_CLASSES: ReadonlySet<string> = new Set(['21', '22', '23', '54']);

/** Whether Postgres refused the rows themselves, rather than failing for a reason a retry can outlive. */
export function isRowRefusal(error: unknown): error is DatabaseError {
  return error instanceof DatabaseError && typeof error.code === 'string' && ROW_CLASSES.has(error.code.slice(0, 2));
}

/**
 * The database's own words for a refusal: its message, the detail, and the SQLSTATE. Use it on an error of a query
 * run on a pg connection: knex puts the whole statement, bindings included, in front of the message of its queries.
 */
export function refusalText(error: DatabaseError): string {
  return `${error.message}${error.detail ? ` (${error.detail})` : ''} [SQLSTATE ${error.code}]`;
}
