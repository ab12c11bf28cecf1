/**
 * Exact decimal arithmetic on bigint, shared by decodeIoValue and encodeIoValue. It lives in its own module (with
 * several small exports, unlike the rest of the domain) because IO scaling must be exact in decimal: 12345 * 0.001
 * is 12.345, never 12.345000000000001, and 64-bit raws must not lose digits. A multiplier or offset is read as its
 * shortest JS decimal form (`String(0.001)` is "0.001"), which is what the person who typed it meant.
 */

/** The value `digits * 10^exponent`. */
export interface Decimal {
  digits: bigint;
  exponent: number;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Parses "12", "-0.001", "1e-7", "1.5e+21"; null when the text is not a plain or exponent decimal. */
export function parseDecimal(text: string): Decimal | null {
  const match = DECIMAL.exec(text);
  if (match === null) return null;
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  const digits = BigInt(whole + fraction) * (sign === '-' ? -1n : 1n);
  return normalize({ digits, exponent: Number(exponent) - fraction.length });
}

/** The exact decimal of a finite JS number, taken from its shortest round-tripping decimal form. */
export function decimalFromNumber(value: number): Decimal {
  const parsed = Number.isFinite(value) ? parseDecimal(String(value)) : null;
  if (parsed === null) throw new RangeError(`${value} is not a finite number`);
  return parsed;
}

export function addDecimals(a: Decimal, b: Decimal): Decimal {
  const exponent = Math.min(a.exponent, b.exponent);
  return normalize({ digits: shift(a, exponent) + shift(b, exponent), exponent });
}

export function multiplyDecimals(a: Decimal, b: Decimal): Decimal {
  return normalize({ digits: a.digits * b.digits, exponent: a.exponent + b.exponent });
}

/** `a / b` when it is an integer, else null (also null for b = 0). */
export function divideToInteger(a: Decimal, b: Decimal): bigint | null {
  if (b.digits === 0n) return null;
  const gap = a.exponent - b.exponent;
  const numerator = gap >= 0 ? a.digits * 10n ** BigInt(gap) : a.digits;
  const denominator = gap >= 0 ? b.digits : b.digits * 10n ** BigInt(-gap);
  return numerator % denominator === 0n ? numerator / denominator : null;
}

/** Plain decimal text without exponent or trailing zeros, e.g. "18446744073709551615", "-0.5". */
export function formatDecimal(value: Decimal): string {
  const { digits, exponent } = normalize(value);
  if (exponent >= 0) return (digits * 10n ** BigInt(exponent)).toString();
  const text = (digits < 0n ? -digits : digits).toString().padStart(-exponent + 1, '0');
  const point = text.length + exponent;
  return `${digits < 0n ? '-' : ''}${text.slice(0, point)}.${text.slice(point)}`;
}

/**
 * The JS number when it stands for exactly this decimal, else the exact decimal string. An integer must be a safe
 * integer; a fraction must print (`String(n)`) as exactly this decimal, so JSON carries the right value.
 */
export function decimalToOutput(value: Decimal): number | string {
  const normalized = normalize(value);
  const text = formatDecimal(normalized);
  if (normalized.exponent >= 0) {
    const integer = BigInt(text);
    return integer >= -MAX_SAFE && integer <= MAX_SAFE ? Number(integer) : text;
  }
  const candidate = Number(text);
  const printed = Number.isFinite(candidate) ? parseDecimal(String(candidate)) : null;
  return printed !== null && sameDecimal(printed, normalized) ? candidate : text;
}

function sameDecimal(a: Decimal, b: Decimal): boolean {
  const [x, y] = [normalize(a), normalize(b)];
  return x.digits === y.digits && x.exponent === y.exponent;
}

function shift(value: Decimal, exponent: number): bigint {
  return value.digits * 10n ** BigInt(value.exponent - exponent);
}

function normalize({ digits, exponent }: Decimal): Decimal {
  if (digits === 0n) return { digits: 0n, exponent: 0 };
  let [d, e] = [digits, exponent];
  while (d % 10n === 0n) [d, e] = [d / 10n, e + 1];
  return { digits: d, exponent: e };
}
