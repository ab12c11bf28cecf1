import knexFactory, { type Knex } from 'knex';

export type Db = Knex;

/** One knex pool per process. Statement timeouts keep a stuck query from holding stream entries forever. */
export function connectDb(databaseUrl: string, options: { pool?: number; application?: string } = {}): Db {
  const { pool = 4, application = 'pitwall' } = options;
  return knexFactory({
    client: 'pg',
    connection: { connectionString: databaseUrl, application_name: application, statement_timeout: 60_000 },
    pool: { min: 0, max: pool },
  });
}
