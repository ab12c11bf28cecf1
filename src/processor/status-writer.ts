import type { Knex } from 'knex';
import type { Registry } from 'prom-client';
import type { HealthReport } from '../observability/metrics-server.ts';
import { removeProcessorStatus, writeProcessorStatus } from '../store/processor-status.ts';

/** How often a processor writes its status row; readers call an instance silent after a few missed writes. */
export const STATUS_EVERY_MS = 5_000;

export interface CounterSample {
  at: number;
  value: number;
}

/**
 * A counter's rate per minute over the last `windowMs`, from the oldest sample inside the window to the newest (null
 * with fewer than two samples a second apart). A counter that went down was reset (a restart): null, not a negative
 * rate.
 */
export function perMinute(samples: readonly CounterSample[], windowMs: number): number | null {
  const newest = samples.at(-1);
  if (!newest) return null;
  const oldest = samples.find((s) => newest.at - s.at <= windowMs);
  if (!oldest || newest.at - oldest.at < 1_000 || newest.value < oldest.value) return null;
  return ((newest.value - oldest.value) / (newest.at - oldest.at)) * 60_000;
}

export interface StatusSources {
  /** The processor's /healthz report (ProcessorHealth). */
  health: () => Promise<HealthReport>;
  /** The registry holding `pitwall_positions_stored_total` and `pitwall_dead_letters_total`. */
  registry: Registry;
  /**
   * Whether this process holds its PROCESSOR_CONSUMER name. A second process started under a name in use waits for
   * it; writing the row meanwhile, it overwrote the working one's figures with its own idle ones.
   */
  holdsName: () => boolean;
}

const numberOrNull = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/**
 * Writes the processor's status row (see store/processor-status.ts): its health, its counters and their rates over
 * the last minute. The rates come from this process's own samples, so they need no second reader and survive no
 * restart (a restarted process starts measuring again).
 */
export class StatusWriter {
  private readonly startedAt = new Date();
  private readonly positions: CounterSample[];
  private readonly deadLetters: CounterSample[];
  /** The write under way, which remove() waits for; removed: no row is written after it. */
  private writing: Promise<void> | null = null;
  private removed = false;

  /** Made when the process starts: its counters are 0 then, which is the first sample of each rate. */
  constructor(
    private readonly db: Knex,
    private readonly instance: string,
    private readonly sources: StatusSources,
    private readonly options: { windowMs?: number; now?: () => number } = {},
  ) {
    const now = (options.now ?? Date.now)();
    this.positions = [{ at: now, value: 0 }];
    this.deadLetters = [{ at: now, value: 0 }];
  }

  private async counter(name: string): Promise<number> {
    const metric = this.sources.registry.getSingleMetric(name);
    if (!metric) return 0;
    const { values } = await metric.get();
    return values.reduce((sum, v) => sum + v.value, 0);
  }

  private sample(samples: CounterSample[], value: number, at: number): number | null {
    const windowMs = this.options.windowMs ?? 60_000;
    samples.push({ at, value });
    // Keep one sample older than the window, so the rate always spans the whole window once it can.
    while (samples.length > 2 && at - samples[1]!.at > windowMs) samples.shift();
    return perMinute(samples, windowMs + STATUS_EVERY_MS);
  }

  async write(): Promise<void> {
    if (this.removed || !this.sources.holdsName()) return;
    this.writing = this.writeRow().finally(() => (this.writing = null));
    return this.writing;
  }

  /**
   * Takes the row away when the process stops on purpose (npm stop, a scale-down), after any write under way: the
   * health panel said "a processor went silent" for the hour it keeps rows of silent instances. A process killed
   * leaves its row, and the panel says so.
   */
  async remove(): Promise<void> {
    const held = this.sources.holdsName();
    this.removed = true;
    await this.writing?.catch(() => {});
    if (held) await removeProcessorStatus(this.db, this.instance);
  }

  private async writeRow(): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    const [report, stored, dead] = await Promise.all([
      this.sources.health(),
      this.counter('pitwall_positions_stored_total'),
      this.counter('pitwall_dead_letters_total'),
    ]);
    await writeProcessorStatus(this.db, {
      instance: this.instance,
      startedAt: this.startedAt,
      healthy: report.ok,
      reasons: report.reasons,
      positionsStoredTotal: stored,
      positionsPerMinute: this.sample(this.positions, stored, now),
      lag: numberOrNull(report['lag']),
      pending: numberOrNull(report['pending']),
      oldestPendingSeconds: numberOrNull(report['oldestPendingSeconds']),
      outboxPending: numberOrNull(report['outbox']),
      outboxParked: numberOrNull(report['parked']),
      deadLettersTotal: dead,
      deadLettersPerMinute: this.sample(this.deadLetters, dead, now),
    });
  }
}
