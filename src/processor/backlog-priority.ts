import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';

/** Reads in a row that left entries behind in the stream before a drain counts as a backlog (3 × 2,000 fixes). */
export const BACKLOG_READS = 3;

/** What BacklogPriority needs of the system: the calling thread's nice value (on Linux, nice is per thread). */
export interface ThreadPriority {
  get(): number;
  set(nice: number): void;
}

const mainThread: ThreadPriority = { get: () => getPriority(), set: (nice) => setPriority(nice) };

/**
 * While the processor drains a backlog (after an outage, a restart, or a day of fixes loaded at once), its thread runs
 * at a lower priority, so that the work people wait on meanwhile (Directus serving the timekeepers and delivering
 * Flows, the live gateway) gets the cores first; it gets its priority back with the first read that finds the
 * stream's end. On an idle machine a lower priority costs the drain nothing. Measured in docs/performance.md: on 2
 * cores, events delivered beside a 1,000,000-fix drain came out at less than half the latency (p50 median 146 ms
 * against 327), and the drain itself was no slower.
 *
 * A process may always lower its own priority, but raising it back needs CAP_SYS_NICE (or RLIMIT_NICE): without that
 * it is left alone (see mayRaise), rather than staying low for good once a backlog has passed.
 */
export class BacklogPriority {
  private readonly normal: number;
  private behind = 0;
  private lowered = false;

  constructor(
    private readonly nice: number,
    private readonly log: Logger,
    private readonly thread: ThreadPriority = mainThread,
    private readonly raiseAllowed: (to: number) => boolean = mayRaise,
  ) {
    this.normal = thread.get();
    if (nice > this.normal && !raiseAllowed(this.normal)) {
      this.nice = this.normal;
      log.info({ nice }, 'a backlog is drained at normal priority: this process could not raise its priority back afterwards (no CAP_SYS_NICE)');
    }
  }

  /** The thread's nice value now, for the metrics. */
  get current(): number {
    return this.lowered ? this.nice : this.normal;
  }

  /** Whether a backlog is being drained: the last BACKLOG_READS reads or more all left entries in the stream. */
  get draining(): boolean {
    return this.behind >= BACKLOG_READS;
  }

  /** One read of the stream: whether it found the stream's end (nothing more waiting). */
  read(reachedEnd: boolean): void {
    if (reachedEnd) return this.restore();
    this.behind += 1;
    if (!this.lowered && this.behind >= BACKLOG_READS && this.nice > this.normal) this.change(true);
  }

  /** Back to normal priority, backlog or not (the processor is closing; its thread may go on with other work). */
  restore(): void {
    this.behind = 0;
    if (this.lowered) this.change(false);
  }

  private change(lower: boolean): void {
    try {
      this.thread.set(lower ? this.nice : this.normal);
      this.lowered = lower;
      this.log.info(
        { nice: lower ? this.nice : this.normal },
        lower ? 'draining a backlog: at a lower priority until caught up, so Directus and the live gateway go first' : 'caught up with the stream: back at normal priority',
      );
    } catch (error) {
      // Not worth stopping for: the drain goes on at whatever priority it has.
      this.log.warn({ err: error }, 'could not change the processor thread priority');
    }
  }
}

/**
 * Whether this process may set its nice value back down to `to` once it has raised it: as root or with CAP_SYS_NICE
 * (bit 23 of the effective capabilities), or within the RLIMIT_NICE soft limit (nice down to 20 - limit). Linux only.
 */
export function mayRaise(to: number, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): boolean {
  try {
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(read('/proc/self/status'))?.[1];
    if (capEff && (BigInt(`0x${capEff}`) >> 23n) & 1n) return true;
    const limit = /^Max nice priority\s+(\d+)/m.exec(read('/proc/self/limits'))?.[1];
    return limit !== undefined && 20 - Number(limit) <= to;
  } catch {
    return false;
  }
}
