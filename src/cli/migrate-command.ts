import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { connectDb } from '../store/db.ts';
import { migrateTelemetry } from '../store/migrate.ts';

export async function run(): Promise<void> {
  const { DATABASE_URL } = loadConfig(z.object({ DATABASE_URL: vars.databaseUrl }));
  const db = connectDb(DATABASE_URL, { pool: 1, application: 'pitwall-migrate' });
  try {
    const applied = await migrateTelemetry(db);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'telemetry tables are up to date');
  } finally {
    await db.destroy();
  }
}
