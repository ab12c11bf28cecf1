import { readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';

/** Reads in a row that left entries behind in the stream before a drain counts as a backlog (3 × 2,000 fixes). */
export const BACKLOG_READS = 3;

/**
 * A nice value BacklogPriority reads and sets: the calling thread's (on Linux, nice is per thread) or its process's
 * autogroup's.
 */
export interface ThreadPriority {
  get(): number;
  set(nice: number): void;
}

const mainThread: ThreadPriority = { get: () => getPriority(), set: (nice) => setPriority(nice) };

const readText = (path: string): string => readFileSync(path, 'utf8');

/**
 * The nice value of this process's autogroup, when the process has one of its own (Linux, sched(7)), else null. With
 * autogroups on (the default of most Linux kernels), the scheduler shares the cores between sessions first, and a
 * thread's nice value counts only against the threads of its own session: a processor started as a service of its
 * own (`npm start`, systemd without CPU accounting) would yield only to itself, not to Directus. Its autogroup's nice
 * value counts against the other sessions, and any process may set it back to 0. Only a session leader's is taken:
 * another process's autogroup is shared with the shell or the program that started it.
 */
export function ownAutogroup(read: (path: string) => string = readText, write: (path: string, text: string) => void = writeFileSync): ThreadPriority | null {
  try {
    if (read('/proc/sys/kernel/sched_autogroup_enabled').trim() !== '1') return null;
    const stat = read('/proc/self/stat');
    // pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses, so read after its last ')'.
    const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
    if (session !== Number(stat.slice(0, stat.indexOf(' ')))) return null;
    const nice = () => Number(/ nice (-?\d+)/.exec(read('/proc/self/autogroup'))?.[1] ?? Number.NaN);
    if (!Number.isInteger(nice())) return null;
    return { get: nice, set: (value) => write('/proc/self/autogroup', String(value)) };
  } catch {
    return null;
  }
}

/** One way of lowering the processor's priority, and the nice value it has through it now. */
interface Lever {
  name: 'thread' | 'autogroup';
  priority: ThreadPriority;
  normal: number;
  at: number;
}

/**
 * While the processor drains a backlog (after an outage, a restart, or a day of fixes loaded at once), it runs at a
 * lower priority, so that the work people wait on meanwhile (Directus serving the timekeepers and delivering Flows,
 * the live gateway) gets the cores first; it gets its priority back with the first read that finds the stream's end.
 * On an idle machine a lower priority costs the drain nothing. Measured in docs/performance.md: on 2 cores, events
 * delivered beside a 1,000,000-fix drain came out at less than half the latency (p50 median 146 ms against 327), and
 * the drain itself was no slower.
 *
 * Two levers, each where it works: the thread's nice value, against the other processes of its session; and, when
 * the processor leads a session of its own (as `npm start` and most service managers run it), its autogroup's, which
 * is what counts against other sessions (see ownAutogroup). A process may always lower its own priority, but raising
 * its thread back needs CAP_SYS_NICE (or RLIMIT_NICE): without that the thread is left alone (see mayRaise), rather
 * than staying low for good once a backlog has passed. Its autogroup may be raised back to 0 by anyone.
 */
export class BacklogPriority {
  private readonly normal: number;
  private readonly levers: Lever[] = [];
  private behind = 0;

  constructor(
    private readonly nice: number,
    private readonly log: Logger,
    thread: ThreadPriority = mainThread,
    raiseAllowed: (to: number) => boolean = mayRaise,
    group: ThreadPriority | null = ownAutogroup(),
  ) {
    this.normal = thread.get();
    if (nice > this.normal && raiseAllowed(this.normal)) this.levers.push({ name: 'thread', priority: thread, normal: this.normal, at: this.normal });
    const groupNormal = group?.get();
    if (group && groupNormal !== undefined && nice > groupNormal) this.levers.push({ name: 'autogroup', priority: group, normal: groupNormal, at: groupNormal });
    if (nice > this.normal && this.levers.length === 0) {
      log.info({ nice }, 'a backlog is drained at normal priority: this process could not raise its priority back afterwards (no CAP_SYS_NICE, no session of its own)');
    }
  }

  /** The processor's nice value now (its thread's or its autogroup's), for the metrics. */
  get current(): number {
    return this.levers.some((lever) => lever.at !== lever.normal) ? this.nice : this.normal;
  }

  /** Whether a backlog is being drained: the last BACKLOG_READS reads or more all left entries in the stream. */
  get draining(): boolean {
    return this.behind >= BACKLOG_READS;
  }

  /** One read of the stream: whether it found the stream's end (nothing more waiting). */
  read(reachedEnd: boolean): void {
    if (reachedEnd) return this.restore();
    this.behind += 1;
    this.settle();
  }

  /** Back to normal priority, backlog or not (the processor is closing; its thread may go on with other work). */
  restore(): void {
    this.behind = 0;
    this.settle();
  }

  /** Sets each lever to where the reads say it should be; one the system refused for now is tried again next read. */
  private settle(): void {
    const lower = this.draining;
    for (const lever of [...this.levers]) {
      const to = lower ? this.nice : lever.normal;
      if (lever.at === to) continue;
      try {
        lever.priority.set(to);
        lever.at = to;
        this.log.info(
          { nice: to, lever: lever.name },
          lower ? 'draining a backlog: at a lower priority until caught up, so Directus and the live gateway go first' : 'caught up with the stream: back at normal priority',
        );
      } catch (error) {
        // Not worth stopping for: the drain goes on at whatever priority it has. Linux refuses a second autogroup
        // change within 100 ms machine-wide (EAGAIN): that one is tried again; anything else, the lever is dropped.
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        this.levers.splice(this.levers.indexOf(lever), 1);
        this.log.warn({ err: error, lever: lever.name }, 'could not change the processor priority');
      }
    }
  }
}

/**
 * Whether this process may set its nice value back down to `to` once it has raised it: as root or with CAP_SYS_NICE
 * (bit 23 of the effective capabilities), or within the RLIMIT_NICE soft limit (nice down to 20 - limit). Linux only.
 */
export function mayRaise(to: number, read: (path: string) => string = readText): boolean {
  try {
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(read('/proc/self/status'))?.[1];
    if (capEff && (BigInt(`0x${capEff}`) >> 23n) & 1n) return true;
    const limit = /^Max nice priority\s+(\d+)/m.exec(read('/proc/self/limits'))?.[1];
    return limit !== undefined && 20 - Number(limit) <= to;
  } catch {
    return false;
  }
}
