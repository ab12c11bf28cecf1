/**
 * Versions of fact rows (`pitwall_fact_versions`, migration 007), for the idempotency keys of race events.
 *
 * An event names its fact and the version the transaction that wrote it raised, so every change is its own event
 * (A -> B -> A -> B is three; a fact deleted and created again is announced again), while the same change applied
 * twice writes nothing the second time (the row already holds it) and so announces nothing.
 *
 * Raising a version locks its row until the commit, and a transaction raises the versions of its facts before it
 * reads them: a second transaction about the same facts waits, then reads what the first wrote, so two concurrent
 * deliveries of one change cannot both take it for new. Ids are locked in sorted order, so two such transactions
 * never wait on each other in a circle.
 *
 * The same row keeps the ordering number of the newest numbered change applied to the fact (migration 008), so an
 * older change arriving late (a retry in another grouping, a redriven outbox row) is skipped, not applied; and the
 * transaction that last wrote the fact (migration 010), so a replay skips what was written after it read.
 */
export const FACT_VERSIONS_TABLE = 'pitwall_fact_versions';

const RANK_LOCK = 'pitwall:stage_results:rank';

/**
 * Only one transaction at a time may rank stages, or two would rank from each other's stale rows; one that may rank
 * takes this lock, until its end, before any fact version.
 */
export async function lockRanking(trx: any): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [RANK_LOCK]);
}

/** The subject of a race event about a fact: its key and the version the change raised. */
export const versionedSubject = (key: string, version: number | undefined): string => `${key}#v${version}`;

/** Raises the version of each fact row id by one (a first one gets 1); returns the new versions. */
export async function raiseFactVersions(trx: any, ids: Iterable<string>): Promise<Map<string, number>> {
  const sorted = [...new Set(ids)].sort();
  if (sorted.length === 0) return new Map();
  const { rows } = await trx.raw(
    `INSERT INTO ${FACT_VERSIONS_TABLE} AS v (fact_id, version)
     SELECT id, 1 FROM unnest(?::text[]) AS id ORDER BY id
     ON CONFLICT (fact_id) DO UPDATE SET version = v.version + 1
     RETURNING fact_id, version`,
    [sorted],
  );
  return new Map((rows as { fact_id: string; version: string | number }[]).map((row) => [row.fact_id, Number(row.version)]));
}

/**
 * raiseFactVersions for the facts a batch writes, in the same statement, which also keeps who wrote each fact's
 * content last (`written_by`, migration 010) and skips, as `superseded`:
 * - with `sequence` (the live processor's numbered batches, see fact-batch.ts): facts a higher-numbered change was
 *   applied to already, so a retry in another grouping or a redriven outbox row never brings an older value back;
 * - with `snapshot` (a replay in apply mode): facts written by a transaction the replay's snapshot does not see, that
 *   is written after the replay read the positions and the stored facts (by the live processor timing the same
 *   stage meanwhile): what the replay computed from older data must neither overwrite nor remove them.
 * The check is made on the row as it stands once any concurrent writer of it has committed (ON CONFLICT waits for
 * it), so a live batch committing during the replay's delivery is seen.
 */
export async function raiseFactVersionsInOrder(
  trx: any, ids: Iterable<string>, sequence: number | undefined, snapshot?: string,
): Promise<{ versions: Map<string, number>; superseded: Set<string> }> {
  const sorted = [...new Set(ids)].sort();
  if (sorted.length === 0) return { versions: new Map(), superseded: new Set() };
  const { rows } = await trx.raw(
    `INSERT INTO ${FACT_VERSIONS_TABLE} AS v (fact_id, version, applied_sequence, written_by)
     SELECT id, 1, ?::bigint, pg_current_xact_id() FROM unnest(?::text[]) AS id ORDER BY id
     ON CONFLICT (fact_id) DO UPDATE SET version = v.version + 1, applied_sequence = GREATEST(v.applied_sequence, EXCLUDED.applied_sequence),
       written_by = EXCLUDED.written_by
     WHERE ?::pg_snapshot IS NULL OR v.written_by IS NULL OR pg_visible_in_snapshot(v.written_by, ?::pg_snapshot)
     RETURNING fact_id, version, applied_sequence`,
    [sequence ?? null, sorted, snapshot ?? null, snapshot ?? null],
  );
  const versions = new Map<string, number>();
  const superseded = new Set<string>(sorted);
  for (const row of rows as { fact_id: string; version: string | number; applied_sequence: string | number | null }[]) {
    versions.set(row.fact_id, Number(row.version));
    // The stored number is the greater of the old one and ours: greater than ours means the old one was.
    if (sequence === undefined || row.applied_sequence === null || Number(row.applied_sequence) <= sequence) superseded.delete(row.fact_id);
  }
  return { versions, superseded };
}
