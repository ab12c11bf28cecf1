import type { Knex } from 'knex';
import { mappingVersion, type IoMapping } from '../domain/io/index.ts';
import { mappingLabel } from '../domain/io/mapping-label.ts';
import { loadIoMappings } from './io-mappings.ts';

/** First key of pg_advisory_xact_lock(int, int) for revision registration; the second is the model's hashtext. */
const LOCK_CLASS = 0x5057_4d52; // "PWMR"

/**
 * The mapping label (mappingLabel) to store with attributes decoded by `rows`, the model's IO mapping as the caller
 * loaded it. The first caller to see a table that differs from the model's latest revision registers it as a new
 * revision, under an advisory lock, so that the processor and a backfill registering at the same moment agree.
 *
 * Only the table the model has NOW (read again under the lock) may become a new revision: a caller holding an
 * older table (it loaded the rows just before an edit) gets the label of that table's last revision, or
 * revision 0 if it never had one, so its writes lose against rows decoded with the current table.
 */
export async function mappingRevisionLabel(db: Knex, model: string, rows: readonly IoMapping[]): Promise<string> {
  const hash = mappingVersion(rows);
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [LOCK_CLASS, model]);
    const latest = await trx('pitwall_mapping_revisions').select('revision', 'hash').where({ model }).orderBy('revision', 'desc').first();
    if (latest?.hash === hash) return mappingLabel(Number(latest.revision), hash);
    const current = (await loadIoMappings(trx, [model])).get(model) ?? [];
    if (mappingVersion(current) === hash) {
      const [created] = await trx('pitwall_mapping_revisions')
        .insert({ model, hash, rows: JSON.stringify(rows) })
        .returning('revision');
      return mappingLabel(Number(created.revision), hash);
    }
    const earlier = await trx('pitwall_mapping_revisions').select('revision').where({ model, hash }).orderBy('revision', 'desc').first();
    return mappingLabel(earlier ? Number(earlier.revision) : 0, hash);
  });
}
