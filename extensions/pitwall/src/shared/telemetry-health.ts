import type { Knex } from 'knex';

export interface TelemetryHealth {
  postgis: boolean;
  positions: boolean;
  decoded_attributes: boolean;
}

/** What the telemetry plane looks like from Directus's database connection. */
export async function telemetryHealth(database: Knex): Promise<TelemetryHealth> {
  const { rows } = await database.raw<{ rows: { postgis: boolean; positions: boolean; decoded: boolean }[] }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis') AS postgis,
            to_regclass('public.positions') IS NOT NULL AS positions,
            to_regclass('public.decoded_attributes') IS NOT NULL AS decoded`,
  );
  const row = rows[0]!;
  return { postgis: row.postgis, positions: row.positions, decoded_attributes: row.decoded };
}
