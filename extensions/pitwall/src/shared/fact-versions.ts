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
 * older change arriving late (a retry in another grouping, a redriven outbox row) is skipped, not applied.
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
 * raiseFactVersions for the facts of a numbered batch (`sequence`, see fact-batch.ts), in the same statement: each
 * fact remembers the highest number applied to it, and the ids whose number is already higher than this batch's
 * come back as `superseded`: a newer change of that fact was applied, and this older one must be skipped, or a
 * retry would bring an older value back. Without a number it is raiseFactVersions: nothing is superseded.
 */
export async function raiseFactVersionsInOrder(
  trx: any, ids: Iterable<string>, sequence: number | undefined,
): Promise<{ versions: Map<string, number>; superseded: Set<string> }> {
  if (sequence === undefined) return { versions: await raiseFactVersions(trx, ids), superseded: new Set() };
  const sorted = [...new Set(ids)].sort();
  if (sorted.length === 0) return { versions: new Map(), superseded: new Set() };
  const { rows } = await trx.raw(
    `INSERT INTO ${FACT_VERSIONS_TABLE} AS v (fact_id, version, applied_sequence)
     SELECT id, 1, ?::bigint FROM unnest(?::text[]) AS id ORDER BY id
     ON CONFLICT (fact_id) DO UPDATE SET version = v.version + 1, applied_sequence = GREATEST(v.applied_sequence, EXCLUDED.applied_sequence)
     RETURNING fact_id, version, applied_sequence`,
    [sequence, sorted],
  );
  const versions = new Map<string, number>();
  const superseded = new Set<string>();
  for (const row of rows as { fact_id: string; version: string | number; applied_sequence: string | number | null }[]) {
    versions.set(row.fact_id, Number(row.version));
    // The stored number is the greater of the old one and ours: greater than ours means the old one was.
    if (row.applied_sequence !== null && Number(row.applied_sequence) > sequence) superseded.add(row.fact_id);
  }
  return { versions, superseded };
}
