/** The shape of a fix time: an ISO-8601 date and time with a zone, seconds required, up to nine decimals. */
export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;

const digits = (text: string, at: number, count: number): number => {
  let value = 0;
  for (let i = at; i < at + count; i++) value = value * 10 + (text.charCodeAt(i) - 0x30);
  return value;
};

const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch ms of an ISO-8601 time with a zone (`2026-03-14T08:00:00.705Z`, `…+02:00`), or NaN when the text is not one
 * or names no real time of the calendar. Date.parse alone does not do: it rolls a day the month lacks into the next
 * month (a tracker's `2026-02-30T10:00:00Z` would be stored as March 2nd) and takes hour 24 as the next midnight.
 * Hours 00-23, minutes and seconds 00-59, as RFC 3339 has them (a leap second is refused, as Date.parse refuses it).
 */
export function isoTimeMs(text: string): number {
  if (!ISO_TIME.test(text)) return Number.NaN;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  if (month < 1 || month > 12 || day < 1) return Number.NaN;
  if (day > (month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]!)) return Number.NaN;
  if (digits(text, 11, 2) > 23 || digits(text, 14, 2) > 59 || digits(text, 17, 2) > 59) return Number.NaN;
  return Date.parse(text); // NaN still for what it refuses besides (a zone offset past 23:59)
}
