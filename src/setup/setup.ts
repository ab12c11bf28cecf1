import type { Knex } from 'knex';
import { demoRaceItems } from '../demo/demo-race.ts';
import { migrateTelemetry } from '../store/migrate.ts';
import { applyPitwallSchema } from './apply-schema.ts';
import { connectAdmin } from './directus-admin.ts';
import { ensureExampleFlows } from './example-flows.ts';
import { migrateIntegerFields } from './integer-fields.ts';
import { ensureProcessorAccess } from './processor-access.ts';
import { ensureRaceControlRole } from './race-control-role.ts';
import { seedItems } from './seed-items.ts';
import { ensureEncryptedWebhookSecrets } from './webhook-secrets.ts';

export interface SetupOptions {
  directusUrl: string;
  adminEmail: string;
  adminPassword: string;
  processorEmail: string;
  processorToken: string;
  demo: boolean;
  now?: Date;
}

/**
 * Everything Pitwall needs in a Directus project, added where missing and never removed: telemetry tables,
 * collections, the processor's role and token, and (optionally) the demo race. Safe to run on every deploy. What
 * it changes in place: Pitwall's millisecond fields from bigInteger to integer (integer-fields.ts), and the
 * processor's own role, which it keeps to exactly what the processor uses (processor-access.ts).
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
    note(await ensureEncryptedWebhookSecrets(client, db));
    note(await ensureProcessorAccess(client, { email: options.processorEmail, token: options.processorToken }, options.directusUrl));
    note(await ensureRaceControlRole(client));
    note(await ensureExampleFlows(client));
    if (options.demo) note(await seedItems(client, demoRaceItems(options.now ?? new Date())));
  } finally {
    await client.logout().catch(() => undefined);
  }
  return done;
}
