import { formatRaceTime, type RaceTimeOptions } from '../../../../src/domain/timing/format-race-time.ts';
import { formatTimeOfDay, UnknownTimeZoneError } from '../../../../src/domain/timing/format-time-of-day.ts';

/** The display's options as Directus stores them in `display_options` (every one optional). */
export interface RaceTimeDisplayOptions {
  /** Duration fields: digits after the second, or 'trim' (drop trailing zeros). Time of day: 0 to 3 digits. */
  decimals?: RaceTimeOptions['decimals'] | '0' | '1' | '2' | '3' | null;
  /** Durations: prefix a positive value with "+" (gaps). */
  signed?: boolean | null;
  /** Timestamps: the clock they are read on, an IANA zone; empty or 'local' for the reader's own. */
  timeZone?: string | null;
}

/** Field types the display reads as a time of day; every other type it takes is a millisecond duration. */
export const timestampTypes = ['timestamp', 'dateTime', 'time'] as const;
export const durationTypes = ['integer', 'bigInteger', 'float', 'decimal'] as const;

const isTimestamp = (type: string | null | undefined) => (timestampTypes as readonly string[]).includes(type ?? '');

function decimalsOf(value: RaceTimeDisplayOptions['decimals']): RaceTimeOptions['decimals'] {
  if (value === null || value === undefined || value === 'trim') return 'trim';
  const n = Number(value);
  return n === 0 || n === 1 || n === 2 || n === 3 ? n : 'trim';
}

/**
 * What the `pitwall-race-time` display shows for a value of a field of the given type: a millisecond duration as race
 * time ("1:42.036", "+0:01.5" for a signed gap), a timestamp as the time of day to the millisecond ("14:03:27.118").
 * `localZone` is the reader's time zone, used when the options name none. Values that are not numbers or times are
 * shown as "—", never as a wrong time.
 */
export function raceTimeText(value: unknown, type: string | null | undefined, options: RaceTimeDisplayOptions = {}, localZone = 'UTC'): string {
  if (value === null || value === undefined || value === '') return '—';
  if (isTimestamp(type) || value instanceof Date) {
    const decimals = decimalsOf(options.decimals);
    const zone = options.timeZone && options.timeZone !== 'local' ? options.timeZone.trim() : localZone;
    const at = value instanceof Date || typeof value === 'number' ? value : String(value);
    try {
      return formatTimeOfDay(at, { timeZone: zone, decimals: decimals === 'trim' ? 3 : decimals });
    } catch (error) {
      if (!(error instanceof UnknownTimeZoneError)) throw error;
      return `${formatTimeOfDay(at, { timeZone: localZone, decimals: decimals === 'trim' ? 3 : decimals })} (unknown zone ${zone})`;
    }
  }
  // bigInteger and decimal fields come from the API as strings.
  const ms = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  return formatRaceTime(ms, { decimals: decimalsOf(options.decimals), signed: options.signed === true });
}
