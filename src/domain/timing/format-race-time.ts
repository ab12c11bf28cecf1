export interface RaceTimeOptions {
  /** Digits after the second: a fixed number (0 to 3), or 'trim' to drop trailing zeros (the default). */
  decimals?: 0 | 1 | 2 | 3 | 'trim';
  /** Prefix a positive value with "+" (gaps). */
  signed?: boolean;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/**
 * A millisecond duration as race time, the way timing sheets print it: minutes and seconds below an hour
 * ("1:42.036", "0:07.5"), hours above ("1:02:03.5"). With the default 'trim', trailing zeros of the fraction go, and
 * a whole second has none ("1:42"). Durations are rounded to the precision shown, never truncated; a negative one
 * (a correction) gets a minus sign. Null, undefined and non-finite values are "—".
 */
export function formatRaceTime(ms: number | null | undefined, options: RaceTimeOptions = {}): string {
  const { decimals = 'trim', signed = false } = options;
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const digits = decimals === 'trim' ? 3 : decimals;
  const unit = 10 ** (3 - digits);
  const abs = Math.round(Math.abs(ms) / unit) * unit;
  const sign = ms < 0 && abs > 0 ? '−' : signed ? '+' : '';
  const hours = Math.floor(abs / 3_600_000);
  const minutes = Math.floor((abs % 3_600_000) / 60_000);
  const seconds = Math.floor((abs % 60_000) / 1000);
  let fraction = digits === 0 ? '' : String(abs % 1000).padStart(3, '0').slice(0, digits);
  if (decimals === 'trim') fraction = fraction.replace(/0+$/, '');
  const tail = `${pad2(seconds)}${fraction ? `.${fraction}` : ''}`;
  return hours > 0 ? `${sign}${hours}:${pad2(minutes)}:${tail}` : `${sign}${minutes}:${tail}`;
}
