import type { Knex } from 'knex';
import { demoId, demoRaceItems } from '../demo/demo-race.ts';
import { migrateTelemetry } from '../store/migrate.ts';
import { applyPitwallSchema } from './apply-schema.ts';
import { ensureCollectionLayouts } from './collection-layouts.ts';
import { ensureDatabaseRole, type DatabaseRole } from './database-role.ts';
import { connectAdmin } from './directus-admin.ts';
import { ensureExampleFlows } from './example-flows.ts';
import { ensureFieldDisplays } from './field-displays.ts';
import { migrateIntegerFields } from './integer-fields.ts';
import { ensureProcessorAccess } from './processor-access.ts';
import { ensureRaceControlDashboard } from './race-control-dashboard.ts';
import { ensureRaceControlRole } from './race-control-role.ts';
import { seedItems } from './seed-items.ts';
import { ensureEncryptedWebhookSecrets } from './webhook-secrets.ts';

export interface SetupOptions {
  directusUrl: string;
  /** Setup's own connection (the owner of Directus's tables), as `db` was opened with. */
  databaseUrl: string;
  /** The role the processor and job runner connect as (database-role.ts). */
  databaseRole: DatabaseRole;
  adminEmail: string;
  adminPassword: string;
  processorEmail: string;
  processorToken: string;
  demo: boolean;
  now?: Date;
}

/**
 * Everything Pitwall needs in a Directus project, added where missing and never removed: telemetry tables,
 * collections, the processor's database role, its Directus role and token, and (optionally) the demo race. Safe to
 * run on every deploy. What it changes in place: Pitwall's millisecond fields from bigInteger to integer
 * (integer-fields.ts), and the processor's own roles, in Postgres and in Directus, which it keeps to exactly what
 * the processor uses (database-role.ts, processor-access.ts).
 */
export async function runSetup(db: Knex, options: SetupOptions, log: (line: string) => void = () => {}): Promise<string[]> {
  const done: string[] = [];
  const note = (lines: string[]) => {
    for (const line of lines) log(line);
    done.push(...lines);
  };
  note((await migrateTelemetry(db)).map((name) => `migrate ${name}`));
  const client = await connectAdmin(options.directusUrl, options.adminEmail, options.adminPassword);
  try {
    note(await applyPitwallSchema(client, db));
    note(await migrateIntegerFields(client, db));
    note(await ensureFieldDisplays(client));
    note(await ensureDatabaseRole(db, options.databaseRole, options.databaseUrl));
    note(await ensureEncryptedWebhookSecrets(client, db));
    note(await ensureProcessorAccess(client, { email: options.processorEmail, token: options.processorToken }, options.directusUrl));
    note(await ensureRaceControlRole(client));
    note(await ensureCollectionLayouts(client));
    note(await ensureExampleFlows(client));
    if (options.demo) note(await seedItems(client, demoRaceItems(options.now ?? new Date())));
    // Opens on the demo's first stage with --demo; otherwise the timekeeper picks the event.
    note(await ensureRaceControlDashboard(client, options.demo ? { event: demoId('event'), stage: demoId('stage:ss1') } : null));
  } finally {
    await client.logout().catch(() => undefined);
  }
  return done;
}
