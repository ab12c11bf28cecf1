import type { Knex } from 'knex';
import * as telemetry from './migrations/001-telemetry.ts';
import * as outbox from './migrations/002-outbox.ts';
import * as pendingEvents from './migrations/003-pending-events.ts';
import * as mappingVersions from './migrations/004-mapping-versions.ts';
import * as replayIndex from './migrations/005-positions-replay-index.ts';
import * as webhookChains from './migrations/006-webhook-chains.ts';
import * as factVersions from './migrations/007-fact-versions.ts';
import * as factSequences from './migrations/008-fact-sequences.ts';
import * as processorStatus from './migrations/009-processor-status.ts';
import * as factWriters from './migrations/010-fact-writers.ts';
import * as eventHandover from './migrations/011-event-handover.ts';
import * as replayIndexGpsFixes from './migrations/012-replay-index-gps-fixes.ts';

const migrations: Record<string, Knex.Migration> = {
  '001-telemetry': telemetry,
  '002-outbox': outbox,
  '003-pending-events': pendingEvents,
  '004-mapping-versions': mappingVersions,
  '005-positions-replay-index': replayIndex,
  '006-webhook-chains': webhookChains,
  '007-fact-versions': factVersions,
  '008-fact-sequences': factSequences,
  '009-processor-status': processorStatus,
  '010-fact-writers': factWriters,
  '011-event-handover': eventHandover,
  '012-replay-index-gps-fixes': replayIndexGpsFixes,
};

/** In-code migrations for knex's migrator, so they ship inside the bundle and the CLI alike. */
const source: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};

/** Brings the telemetry tables up to date. knex's lock table makes concurrent starts safe. */
export async function migrateTelemetry(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({
    migrationSource: source,
    tableName: 'pitwall_migrations',
  })) as [number, string[]];
  return applied;
}
