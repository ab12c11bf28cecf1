/**
 * A timestamp as a timekeeper types it and reads it back: local date and time to the millisecond,
 * `2026-12-06 20:35:33.842`. Directus's own date-time picker stops at seconds, so a correction made with it set the
 * milliseconds to zero without a word, on times that rank cars a few hundredths apart.
 */

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The stored time (ISO text, or a Date) as local text to the millisecond; '' for none or what is no time. */
export function preciseTimeText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '';
  const d = new Date(value as string);
  if (Number.isNaN(d.getTime())) return '';
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local date and time, seconds and up to three decimals optional; `T` or a space between date and time. */
const TYPED = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

export type TypedTime = { ok: true; value: string | null } | { ok: false; message: string };

/**
 * What a typed text stores: an ISO time (UTC, milliseconds) read in the browser's zone, null for an empty field, or
 * why it is no time (a day the calendar lacks, hour 24, a fourth decimal the column would round away).
 */
export function parsePreciseTime(text: string): TypedTime {
  const typed = text.trim();
  if (typed === '') return { ok: true, value: null };
  const parts = TYPED.exec(typed);
  if (!parts) return { ok: false, message: 'Type the local date and time as 2026-12-06 20:35:33.842' };
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  const ms = Number((parts[7] ?? '').padEnd(3, '0'));
  const d = new Date(year, month - 1, day, hour, minute, second, ms);
  d.setFullYear(year); // years 0-99 would otherwise be read as 1900-1999
  const same = d.getFullYear() === year && d.getMonth() === month - 1 && d.getDate() === day && d.getHours() === hour && d.getMinutes() === minute && d.getSeconds() === second;
  if (!same) return { ok: false, message: `${typed} is no time of the calendar here` };
  return { ok: true, value: d.toISOString() };
}
