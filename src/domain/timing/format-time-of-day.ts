export interface TimeOfDayOptions {
  /** IANA time zone the clock is read in (the race's, or the reader's); default 'UTC'. */
  timeZone?: string;
  /** Digits after the second, 0 to 3 (default 3): a crossing is timed to the millisecond. */
  decimals?: 0 | 1 | 2 | 3;
}

/** Thrown for a time zone the runtime does not know, so a typo in a display option is not silently read as UTC. */
export class UnknownTimeZoneError extends RangeError {
  override name = 'UnknownTimeZoneError';
}

const clocks = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: building one costs far more than using it, and a results table formats hundreds. */
function clockOf(timeZone: string): Intl.DateTimeFormat {
  let clock = clocks.get(timeZone);
  if (!clock) {
    try {
      clock = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    } catch {
      throw new UnknownTimeZoneError(`unknown time zone "${timeZone}"`);
    }
    clocks.set(timeZone, clock);
  }
  return clock;
}

/**
 * A moment as the wall clock of a time zone reads it, to the millisecond ("14:03:27.118"), the way timekeepers read
 * a crossing. The fraction is cut, not rounded, as a clock shows it: 14:03:27.9996 is never "14:03:28". Accepts
 * epoch milliseconds, an ISO-8601 string or a Date; what is not a time is "—".
 */
export function formatTimeOfDay(at: number | string | Date | null | undefined, options: TimeOfDayOptions = {}): string {
  const { timeZone = 'UTC', decimals = 3 } = options;
  if (at === null || at === undefined || at === '') return '—';
  const ms = at instanceof Date ? at.getTime() : typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(ms)) return '—';
  const whole = Math.floor(ms / 1000) * 1000;
  const parts = clockOf(timeZone).formatToParts(whole);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '00';
  const fraction = decimals === 0 ? '' : `.${String(ms - whole).padStart(3, '0').slice(0, decimals)}`;
  return `${part('hour')}:${part('minute')}:${part('second')}${fraction}`;
}
