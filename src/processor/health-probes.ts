import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { Gauge, type Registry } from 'prom-client';
import { healthErrors, healthReport, probe, type HealthReport, type Probed } from '../observability/metrics-server.ts';
import { outboxState, type OutboxState } from '../store/outbox.ts';
import { groupInfo, type GroupInfo } from '../stream/consumer-group.ts';
import { healthReasons } from './health.ts';

export interface ProcessorHealthOptions {
  redis: Redis;
  db: Knex;
  stream: string;
  group: string;
  /** The process times races and so owns an outbox. */
  racing: boolean;
  /** When the consumer last made progress (TelemetryConsumer.progressAt). */
  progressAt: () => number;
  stallMs: number;
  /**
   * The oldest stream entry this instance still has to store (ShardedConsumer.oldestWaiting); without it, the
   * group's oldest unacknowledged entry.
   */
  oldestWaiting?: () => Promise<string | null>;
  /** The shard count the running processors use, while this one's differs (ShardedConsumer.shardCountConflict). */
  shardCountConflict?: () => number | null;
  /** A check that takes longer failed (default 3 s). */
  probeTimeoutMs?: number;
}

/** Seconds since a stream entry id's time (its milliseconds part), by Redis's clock. */
const idAgeSeconds = (id: string, redisNowMs: number) => Math.max(0, (redisNowMs - Number(id.split('-')[0])) / 1000);

/**
 * The processor's health checks and the gauges they feed: the connections, the consumer group (lag, pending, age
 * of the oldest pending entry), whether the consumer makes progress, and the outbox (waiting and parked rows).
 * Each check has a time limit, and a Redis command is sent only on a ready connection (ioredis would queue it
 * until the reconnection), so /healthz and /metrics answer while a connection is down.
 */
export class ProcessorHealth {
  private readonly timeoutMs: number;

  constructor(private readonly options: ProcessorHealthOptions) {
    this.timeoutMs = options.probeTimeoutMs ?? 3000;
  }

  private redisCheck<T>(check: (redis: Redis) => Promise<T>): Promise<Probed<T>> {
    const { redis } = this.options;
    if (redis.status !== 'ready') return Promise.resolve({ ok: false, error: `redis connection is ${redis.status}` });
    return probe(() => check(redis), this.timeoutMs);
  }

  private group(): Promise<Probed<GroupInfo | null>> {
    return this.redisCheck((redis) => groupInfo(redis, this.options.stream, this.options.group));
  }

  /** Age of the group's oldest unacknowledged entry (0 when none): how long the oldest waiting fix has waited. */
  private oldestPending(): Promise<Probed<number>> {
    return this.redisCheck(async (redis) => {
      const waiting = this.options.oldestWaiting;
      const [oldest, time] = await Promise.all([
        waiting ? waiting() : (redis.xpending(this.options.stream, this.options.group).then((summary) => (summary as unknown[])[1], () => null) as Promise<unknown>),
        redis.time(),
      ]);
      if (typeof oldest !== 'string') return 0;
      return idAgeSeconds(oldest, Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000));
    });
  }

  private outbox(): Promise<Probed<OutboxState> | null> {
    return this.options.racing ? probe(() => outboxState(this.options.db), this.timeoutMs) : Promise.resolve(null);
  }

  async report(now = Date.now()): Promise<HealthReport> {
    const [redis, postgres, group, oldest, outbox] = await Promise.all([
      this.redisCheck((r) => r.ping()),
      probe(() => this.options.db.raw('select 1'), this.timeoutMs),
      this.group(),
      this.oldestPending(),
      this.outbox(),
    ]);
    const info = group.ok ? group.value : null;
    const seen = {
      redis: redis.ok,
      postgres: postgres.ok,
      lag: info?.lag ?? null,
      pending: info?.pending ?? null,
      sinceProgressMs: Math.max(0, now - this.options.progressAt()),
      parked: outbox?.ok ? outbox.value.parked : null,
      shardCountConflict: this.options.shardCountConflict?.() ?? null,
    };
    return healthReport(healthReasons(seen, { stallMs: this.options.stallMs }), {
      ...seen,
      stallMs: this.options.stallMs,
      oldestPendingSeconds: oldest.ok ? oldest.value : null,
      // Fact batches waiting for Directus: growing while Directus is down, and that is not a reason to restart us.
      outbox: outbox?.ok ? outbox.value.pending : null,
      ...healthErrors({ redis, postgres }),
    });
  }

  /** The consumer group's and the outbox's gauges; an unreadable value is NaN rather than a stale one. */
  registerMetrics(registry: Registry): void {
    const labels = { stream: this.options.stream, group: this.options.group };
    const health = this;
    new Gauge({
      name: 'pitwall_consumer_lag',
      help: 'Stream entries not yet delivered to the consumer group (XINFO GROUPS lag)',
      labelNames: ['stream', 'group'],
      registers: [registry],
      async collect() {
        const group = await health.group();
        this.set(labels, group.ok && group.value?.lag != null ? group.value.lag : Number.NaN);
      },
    });
    new Gauge({
      name: 'pitwall_consumer_pending',
      help: 'Entries delivered to the group but not yet acknowledged',
      labelNames: ['stream', 'group'],
      registers: [registry],
      async collect() {
        const group = await health.group();
        this.set(labels, group.ok && group.value ? group.value.pending : Number.NaN);
      },
    });
    new Gauge({
      name: 'pitwall_consumer_oldest_pending_age_seconds',
      help: 'Age of the oldest entry delivered to the group and not yet acknowledged, by its stream id (0 when none)',
      labelNames: ['stream', 'group'],
      registers: [registry],
      async collect() {
        const oldest = await health.oldestPending();
        this.set(labels, oldest.ok ? oldest.value : Number.NaN);
      },
    });
    if (!this.options.racing) return;
    // One statement per scrape feeds the three outbox gauges (prom-client collects every gauge of a scrape at once).
    let scrape: Promise<Probed<OutboxState> | null> | null = null;
    const state = () => (scrape ??= health.outbox().finally(() => setTimeout(() => (scrape = null), 0)));
    const outboxGauge = (name: string, help: string, value: (s: OutboxState) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          const seen = await state();
          this.set(seen?.ok ? value(seen.value) : Number.NaN);
        },
      });
    outboxGauge('pitwall_outbox_pending', 'Fact batches waiting for Directus', (s) => s.pending);
    outboxGauge('pitwall_outbox_parked', 'Fact batches Directus refused as invalid, parked until `pitwall outbox redrive`', (s) => s.parked);
    outboxGauge('pitwall_outbox_oldest_age_seconds', 'Age of the oldest fact batch waiting for Directus (0 when none)', (s) => s.oldestPendingSeconds);
  }
}
