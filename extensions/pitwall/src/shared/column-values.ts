import type { Accountability, SchemaOverview } from '@directus/types';
import { cutShort } from '../../../../src/domain/cut-short.ts';
import { hasLoneSurrogate } from '../../../../src/domain/io/storable-text.ts';
import { pitwallCollections } from '../../../../src/setup/pitwall-schema.ts';
import { beforeYearOne, directusTimestampMs } from './directus-timestamp.ts';
import { refuse, writePermission, type Problem } from './write-guard.ts';

type Row = Record<string, unknown>;
type Field = Pick<SchemaOverview['collections'][string]['fields'][string], 'type' | 'dbType' | 'precision' | 'scale' | 'special'>;
type Write = 'create' | 'update';

/** The collections setup makes (src/setup/pitwall-schema.ts), folders aside: the ones whose writes are checked here. */
export const pitwallCollectionNames: readonly string[] = pitwallCollections.filter((c) => !c.folder).map((c) => c.collection);

/** Postgres's whitespace around a number (isspace): what its integer, float and boolean inputs skip. */
const WS = '[ \\t\\n\\v\\f\\r]*';
const INTEGER = new RegExp(`^${WS}([+-]?\\d+)${WS}$`);
// float4in/numeric_in: decimal with an exponent, NaN, Infinity (float also inf, and strtod's hexadecimal).
const DECIMAL = new RegExp(`^${WS}[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?${WS}$`);
const SPECIAL_NUMBER = new RegExp(`^${WS}([+-]?(infinity|inf)|nan)${WS}$`, 'i');
const HEX_FLOAT = new RegExp(`^${WS}[+-]?0x([0-9a-f]+\\.?[0-9a-f]*|\\.[0-9a-f]+)(p[+-]?\\d+)?${WS}$`, 'i');
/** uuid_in: 32 hex digits, a hyphen allowed after any group of four, optionally in braces. */
const UUID = /^\{?[0-9a-f]{4}(-?[0-9a-f]{4}){7}\}?$/i;
/** boolin: the words and any prefix of them that is unambiguous, or 1 and 0, in any case, with spaces around. */
const BOOLEAN_WORDS = ['true', 'false', 'yes', 'no', 'on', 'off'];
/** Texts Directus itself makes null for a date field (a zero date). */
const ZERO_DATE = /^[.0 :-]{10,}$/;

const INT_RANGE = {
  integer: [-(2n ** 31n), 2n ** 31n - 1n],
  bigInteger: [-(2n ** 63n), 2n ** 63n - 1n],
} as const;

/**
 * Specials under which Directus makes the value itself on this write, whatever was sent (see PayloadService's
 * transformers), or turns it into text of its own: such a field is not checked.
 */
const MADE_BY_DIRECTUS: Record<Write, ReadonlySet<string>> = {
  create: new Set(['user-created', 'role-created', 'date-created', 'user-updated', 'role-updated', 'date-updated', 'hash', 'encrypt', 'cast-csv']),
  update: new Set(['user-updated', 'role-updated', 'date-updated', 'hash', 'encrypt', 'cast-csv']),
};

const shown = (value: unknown): string => cutShort(String(JSON.stringify(value)), 40);

function isBooleanText(text: string): boolean {
  const word = text.trim().toLowerCase();
  if (word === '1' || word === '0') return true;
  // One letter of "on"/"off" is ambiguous; Postgres takes any other non-empty prefix.
  if (word === '' || word === 'o') return false;
  return BOOLEAN_WORDS.some((w) => w.startsWith(word));
}

function integerProblem(type: 'integer' | 'bigInteger', value: unknown): string | null {
  const [min, max] = INT_RANGE[type];
  const expected = `expected a whole number from ${min} to ${max}`;
  let whole: bigint | null = null;
  if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 1e21) whole = BigInt(value);
  if (typeof value === 'string' && INTEGER.test(value)) whole = BigInt(value.trim());
  if (whole === null || whole < min || whole > max) return `${expected}, not ${shown(value)}`;
  return null;
}

/** Directus makes float fields `real`: Postgres refuses what overflows it, and a non-zero value that rounds to 0. */
function realProblem(value: unknown): string | null {
  const expected = 'expected a number that fits a 4-byte float (real)';
  if (typeof value === 'number') {
    const stored = Math.fround(value);
    return Number.isFinite(stored) && !(stored === 0 && value !== 0) ? null : `${expected}, not ${shown(value)}`;
  }
  if (typeof value !== 'string') return `${expected}, not ${shown(value)}`;
  if (SPECIAL_NUMBER.test(value) || HEX_FLOAT.test(value)) return null;
  return DECIMAL.test(value) ? realProblem(Number(value.trim())) : `${expected}, not ${shown(value)}`;
}

function doubleProblem(value: unknown): string | null {
  if (typeof value === 'number' ? Number.isFinite(value) : typeof value === 'string' && ((DECIMAL.test(value) && Number.isFinite(Number(value.trim()))) || SPECIAL_NUMBER.test(value) || HEX_FLOAT.test(value))) return null;
  return `expected a number, not ${shown(value)}`;
}

/**
 * numeric(precision, scale): at most precision - scale digits before the point, and at most scale after it (Postgres
 * would round the rest away without a word: a multiplier of 1e-13 became 0).
 */
function decimalProblem(field: Field, value: unknown): string | null {
  const expected = 'expected a decimal number';
  const whole = field.precision !== null && field.scale !== null ? field.precision - field.scale : null;
  let text: string | null = null;
  if (typeof value === 'number' && Number.isFinite(value)) text = String(Math.abs(value));
  else if (typeof value === 'string' && DECIMAL.test(value)) text = value.trim().replace(/^[+-]/, '');
  // NaN fits any numeric column; an infinity only one without a precision.
  else if (typeof value === 'string' && SPECIAL_NUMBER.test(value) && (/nan/i.test(value) || whole === null) && !/^\s*[+-]?inf\s*$/i.test(value)) return null;
  else return `${expected}, not ${shown(value)}`;
  const digits = decimalDigits(text);
  if (whole !== null && digits.whole > whole) return `${expected} with at most ${whole} digits before the decimal point, not ${shown(value)}`;
  if (field.scale !== null && digits.fraction > field.scale) return `${expected} with at most ${field.scale} digits after the decimal point (more would be rounded away), not ${shown(value)}`;
  return null;
}

/** Significant digits of an unsigned decimal text (`12.50`, `.5`, `1e-13`, `1.5e+20`) before and after its point. */
export function decimalDigits(text: string): { whole: number; fraction: number } {
  const parts = /^(\d*)\.?(\d*)(?:e([+-]?\d+))?$/i.exec(text);
  if (!parts) return { whole: 0, fraction: 0 };
  let [, integer = '', fraction = ''] = parts;
  const exponent = Number(parts[3] ?? 0);
  if (!/[1-9]/.test(integer + fraction)) return { whole: 0, fraction: 0 };
  // An exponent past any column's precision (numeric holds 1000 digits) is past it either way.
  if (exponent > 1_000) return { whole: Number.POSITIVE_INFINITY, fraction: 0 };
  if (exponent < -1_000) return { whole: 0, fraction: Number.POSITIVE_INFINITY };
  if (exponent > 0) {
    integer += fraction.slice(0, exponent).padEnd(exponent, '0');
    fraction = fraction.slice(exponent);
  } else if (exponent < 0) {
    const padded = integer.padStart(-exponent, '0');
    fraction = padded.slice(padded.length + exponent) + fraction;
    integer = padded.slice(0, padded.length + exponent);
  }
  return { whole: integer.replace(/^0+/, '').length, fraction: fraction.replace(/0+$/, '').length };
}

/** jsonb refuses NUL and unpaired surrogates in strings and keys (json keeps them as text). Iterative: nesting is the sender's. */
function jsonbProblem(value: unknown): string | null {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return 'must not contain NUL characters';
      if (hasLoneSurrogate(item)) return 'must not contain unpaired UTF-16 surrogates';
    } else if (item && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) stack.push(key, child);
    }
  }
  return null;
}

function jsonProblem(field: Field, value: unknown): string | null {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return `expected JSON (text sent for a JSON field must be JSON text), not ${shown(value)}`;
    }
  }
  return field.dbType === 'jsonb' ? jsonbProblem(parsed) : null;
}

function timestampProblem(value: unknown): string | null {
  const expected = 'expected a date and time such as 2026-03-14T08:00:00.705Z';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? `${expected}, not an invalid Date` : beforeYearOne(value.getTime());
  if (typeof value !== 'string') return `${expected}, not ${shown(value)}`;
  if (ZERO_DATE.test(value)) return null; // Directus stores null
  const ms = directusTimestampMs(value);
  return Number.isNaN(ms) ? `${expected}, not ${shown(value)}` : beforeYearOne(ms);
}

/**
 * What Postgres would refuse in a value Directus writes to a field of this type, or null. Only what the column
 * itself refuses: what a row needs beyond that is the other guards' matter. `relational`: a many-to-one, whose
 * value may be an object (a related item created or changed with it).
 */
export function columnValueProblem(field: Field, value: unknown, write: Write, relational = false): string | null {
  if (value === null || value === undefined) return null;
  if (field.special?.some((special) => MADE_BY_DIRECTUS[write].has(special))) return null;
  if (typeof value === 'object' && !(value instanceof Date)) {
    // A related item sent with its parent; knex raw values from the system's own writes.
    if (relational || (value as { isRawInstance?: unknown }).isRawInstance) return null;
    if (['uuid', 'integer', 'bigInteger', 'float', 'decimal', 'boolean', 'timestamp'].includes(field.type)) return `expected ${article(field.type)}, not ${Array.isArray(value) ? 'a list' : 'an object'}`;
  }
  switch (field.type) {
    case 'uuid':
      // Directus gives a new item a uuid of its own when this is left empty.
      if (write === 'create' && !value && field.special?.includes('uuid')) return null;
      return typeof value === 'string' && UUID.test(value) ? null : `expected a uuid such as 5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab, not ${shown(value)}`;
    case 'integer':
    case 'bigInteger':
      return integerProblem(field.type, value);
    case 'float':
      // Directus makes its float fields real; a double precision column (made by SQL) takes any finite double.
      return field.dbType === 'double precision' ? doubleProblem(value) : realProblem(value);
    case 'decimal':
      return decimalProblem(field, value);
    case 'boolean':
      if (typeof value === 'boolean' || value === 0 || value === 1 || (typeof value === 'string' && isBooleanText(value))) return null;
      return `expected true or false, not ${shown(value)}`;
    case 'json':
      return jsonProblem(field, value);
    case 'timestamp':
      return timestampProblem(value);
    case 'string':
    case 'text':
      // Text columns refuse the NUL character.
      return typeof value === 'string' && value.includes('\u0000') ? 'must not contain NUL characters' : null;
    default:
      return null;
  }
}

function article(type: string): string {
  return ({ uuid: 'a uuid', integer: 'a whole number', bigInteger: 'a whole number', float: 'a number', decimal: 'a decimal number', boolean: 'true or false', timestamp: 'a date and time' } as Record<string, string>)[type] ?? type;
}

/**
 * What the columns hold that Directus's schema overview does not say, by `collection.field`: the characters of a
 * `varchar(n)`, and the precision and scale of a `numeric(p, s)` (the overview has them null).
 */
export interface ColumnLimits {
  lengths: ReadonlyMap<string, number>;
  numerics: ReadonlyMap<string, { precision: number; scale: number }>;
}

const NO_LIMITS: ColumnLimits = { lengths: new Map(), numerics: new Map() };

/**
 * Every value of a payload that its field's column would refuse, by field. A text longer than its `varchar` column
 * is one, and a decimal past its `numeric` column (`limits`): Postgres's error names no column, and Directus's 400
 * then names another field.
 */
export function payloadProblems(schema: SchemaOverview, collection: string, payload: Row, write: Write, limits: ColumnLimits = NO_LIMITS): Problem[] {
  const fields = schema.collections[collection]?.fields;
  if (!fields) return [];
  const problems: Problem[] = [];
  for (const [name, value] of Object.entries(payload)) {
    const known = fields[name];
    if (!known || known.alias || known.type === 'alias') continue;
    const numeric = known.type === 'decimal' && known.precision === null ? limits.numerics.get(`${collection}.${name}`) : undefined;
    const field = numeric ? { ...known, ...numeric } : known;
    const relational = schema.relations.some((r) => r.collection === collection && r.field === name && r.related_collection !== null);
    const message = columnValueProblem(field, value, write, relational) ?? lengthProblem(field, value, limits.lengths.get(`${collection}.${name}`));
    if (message) problems.push({ field: name, message });
  }
  return problems;
}

function lengthProblem(field: Field, value: unknown, max: number | undefined): string | null {
  if (max === undefined || field.type !== 'string' || typeof value !== 'string' || value.length <= max) return null;
  // Postgres counts characters, not UTF-16 units.
  const characters = [...value].length;
  return characters > max ? `at most ${max} characters, got ${characters}` : null;
}

/** How long the columns' limits are kept: an admin may change a field meanwhile. */
const LIMITS_MS = 30_000;

/** The column limits of the current schema, read again at most every LIMITS_MS; none if unreadable. */
function columnLimitsOf(database: any, now: () => number = Date.now): () => Promise<ColumnLimits> {
  let kept: { at: number; limits: Promise<ColumnLimits> } | null = null;
  const read = async (): Promise<ColumnLimits> => {
    const rows: { table_name: string; column_name: string; length: number | null; precision: number | null; scale: number | null; data_type: string }[] = await database(
      'information_schema.columns',
    )
      .whereRaw('table_schema = current_schema()')
      .where((q: any) => q.whereNotNull('character_maximum_length').orWhere('data_type', 'numeric'))
      .select('table_name', 'column_name', 'data_type', { length: 'character_maximum_length', precision: 'numeric_precision', scale: 'numeric_scale' });
    const key = (r: (typeof rows)[number]) => `${r.table_name}.${r.column_name}`;
    return {
      lengths: new Map(rows.filter((r) => r.length !== null).map((r) => [key(r), Number(r.length)])),
      numerics: new Map(rows.filter((r) => r.data_type === 'numeric' && r.precision !== null).map((r) => [key(r), { precision: Number(r.precision), scale: Number(r.scale ?? 0) }])),
    };
  };
  return () => {
    if (kept === null || now() - kept.at > LIMITS_MS) {
      const limits = read().catch(() => {
        kept = null; // asked again by the next write
        return NO_LIMITS;
      });
      kept = { at: now(), limits };
    }
    return kept.limits;
  };
}

/**
 * Values of the Pitwall collections' fields that Postgres would refuse (text that is no uuid, number or JSON, a
 * time that is no time) are refused where they are written, with a 400 naming each such field: Directus hands them
 * to Postgres as they come and answers a 500 quoting its SQL; a text longer than its column gets a 400 naming another
 * field. Checked against the field types Directus itself knows
 * (the schema a filter is given), so a field added by an admin is checked too. Everyone's writes are checked, the
 * system's too (a value Postgres refuses fails either way); a caller none of whose policies may make the write is
 * left to Directus's 403 (see writePermission).
 */
export function columnGuard(database: any) {
  const mayWrite = writePermission(database);
  const limits = columnLimitsOf(database);
  return async (collection: string, write: Write, payload: Row, schema: SchemaOverview | null | undefined, accountability: Accountability | null | undefined): Promise<Row> => {
    if (!schema || !payload || typeof payload !== 'object') return payload;
    const problems = payloadProblems(schema, collection, payload, write, await limits());
    if (problems.length === 0) return payload;
    if (!(await mayWrite(collection, write, accountability))) return payload;
    return refuse(problems);
  };
}
