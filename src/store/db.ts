import knexFactory, { type Knex } from 'knex';
import type { Logger } from 'pino';

export type Db = Knex;

/** How long one statement may run (see connectDb). */
export const STATEMENT_TIMEOUT_MS = 60_000;

/** One knex pool per process. Statement timeouts keep a stuck query from holding stream entries forever. */
export function connectDb(databaseUrl: string, options: { pool?: number; application?: string; log?: Logger } = {}): Db {
  const { pool = 4, application = 'pitwall', log } = options;
  return knexFactory({
    client: 'pg',
    connection: { connectionString: databaseUrl, application_name: application, statement_timeout: STATEMENT_TIMEOUT_MS },
    pool: { min: 0, max: pool },
    // knex prints connection errors to the console by default; a service logs them as structured warnings.
    ...(log
      ? {
          log: {
            warn: (message: unknown) => log.warn({ knex: message }, 'postgres'),
            error: (message: unknown) => log.error({ knex: message }, 'postgres'),
            deprecate: (message: unknown) => log.debug({ knex: message }, 'postgres'),
            debug: (message: unknown) => log.debug({ knex: message }, 'postgres'),
          },
        }
      : {}),
  });
}
