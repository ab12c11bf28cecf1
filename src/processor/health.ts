/**
 * Why a process answers /healthz with 503. Stable codes, for probes and alerts to match on:
 * - `postgres-unreachable`, `redis-unreachable`: a check of the connection failed or took too long;
 * - `consumer-stalled`: stream entries wait (lag or pending, or a lag Redis cannot tell) and the consumer has made no
 *   progress for the stall time;
 * - `outbox-parked`: fact batches Directus refused are parked in the outbox and wait for `pitwall outbox redrive`;
 * - `shard-count-conflict`: this processor's PROCESSOR_SHARDS differs from the running ones'; it takes no shard.
 */
export type HealthReason = 'postgres-unreachable' | 'redis-unreachable' | 'consumer-stalled' | 'outbox-parked' | 'shard-count-conflict';

/** What the processor's health checks saw at one moment. Null: could not be read (its connection is down). */
export interface ProcessorObservation {
  redis: boolean;
  postgres: boolean;
  /** Entries of the stream not yet delivered to the group (null: unknown). */
  lag: number | null;
  /** Entries delivered to the group and not yet acknowledged. */
  pending: number | null;
  /** Time since the consumer last acknowledged a batch or found nothing new to read. */
  sinceProgressMs: number;
  /** Parked outbox rows (null when the process does no race timing, or Postgres cannot tell). */
  parked: number | null;
  /** The shard count the running processors use, where it differs from this one's; null otherwise. */
  shardCountConflict?: number | null;
}

export interface HealthOptions {
  /** No progress for longer than this while entries wait is a stall (PROCESSOR_STALL_MS). */
  stallMs: number;
}

/** The reasons the observation is unhealthy, in a fixed order; empty when healthy. */
export function healthReasons(seen: ProcessorObservation, { stallMs }: HealthOptions): HealthReason[] {
  const reasons: HealthReason[] = [];
  if (!seen.postgres) reasons.push('postgres-unreachable');
  if (!seen.redis) reasons.push('redis-unreachable');
  // An unknown lag may hide waiting entries; an idle consumer still makes progress (it finds nothing new).
  const waiting = seen.lag === null || seen.lag > 0 || (seen.pending ?? 0) > 0;
  if (waiting && seen.sinceProgressMs > stallMs) reasons.push('consumer-stalled');
  if ((seen.parked ?? 0) > 0) reasons.push('outbox-parked');
  if ((seen.shardCountConflict ?? null) !== null) reasons.push('shard-count-conflict');
  return reasons;
}
