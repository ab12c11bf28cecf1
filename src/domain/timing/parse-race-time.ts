import { formatRaceTime } from './format-race-time.ts';

/** The most a 4-byte integer column of milliseconds holds (24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647;

export type TypedDuration = { ok: true; ms: number | null } | { ok: false; message: string };

/**
 * `[-]` then seconds, `m:ss` or `h:mm:ss`, with up to three decimals after a point; a leading unit may have any digits.
 * No spaces, commas or unit letters: "1 30" (1:30 or 130?) and "1,500" (1.5 or 1500?) are typos to be told, not read.
 */
const TYPED = /^([-−])?(?:(?:(\d+):)?(\d+):)?(\d+)(?:\.(\d{1,3}))?$/;

const HINT = 'Type a race time: 10 or 10.5 (seconds), 1:30.250 (minutes), 1:02:03 (hours), with a point before decimals';

/**
 * A duration as a timekeeper types it, read back as milliseconds: seconds alone ("10", "2.5"), minutes and seconds
 * ("1:30.250") or hours ("1:02:03"), the way formatRaceTime prints it (so a shown value can be typed back). A bare
 * number is seconds, not milliseconds: a "10" penalty is ten seconds. Empty
 * text is null. Refused, with the reason: a fourth decimal (the column keeps milliseconds), minutes or seconds of 60
 * and more after a larger unit, a negative time where `signed` is false, a time past what the column holds.
 */
export function parseRaceTime(text: string, options: { signed?: boolean; maxMs?: number } = {}): TypedDuration {
  const typed = text.trim();
  if (typed === '') return { ok: true, ms: null };
  const parts = TYPED.exec(typed);
  if (!parts) return { ok: false, message: /\.\d{4}/.test(typed) ? 'At most three decimals: the time is kept to the millisecond' : HINT };
  const [, minus, hoursText, minutesText, secondsText, fractionText] = parts;
  const hours = Number(hoursText ?? 0);
  const minutes = Number(minutesText ?? 0);
  const seconds = Number(secondsText);
  if (minutesText !== undefined && seconds >= 60) return { ok: false, message: `${secondsText} seconds: at most 59 after the minutes` };
  if (hoursText !== undefined && minutes >= 60) return { ok: false, message: `${minutesText} minutes: at most 59 after the hours` };
  const magnitude = ((hours * 60 + minutes) * 60 + seconds) * 1000 + Number((fractionText ?? '').padEnd(3, '0'));
  if (minus && magnitude > 0 && !options.signed) return { ok: false, message: 'A duration here is not negative' };
  if (magnitude > MAX_DURATION_MS) return { ok: false, message: 'At most 596:31:23.647 (what the field holds)' };
  if (options.maxMs !== undefined && magnitude > options.maxMs) return { ok: false, message: `At most ${formatRaceTime(options.maxMs)} here` };
  return { ok: true, ms: minus && magnitude > 0 ? -magnitude : magnitude };
}
