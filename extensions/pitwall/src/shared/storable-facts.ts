import type { FactBatch } from '../../../../src/domain/pipeline/fact-batch.ts';
import type { Fact } from '../../../../src/domain/pipeline/facts.ts';

/** A zod-shaped issue, as the facts route answers them (400 INVALID_PAYLOAD with `issues`). */
export interface FactIssue {
  code: 'custom';
  path: (string | number)[];
  message: string;
}

/*
 * What the columns of the fact collections (src/setup/pitwall-schema.ts) cannot hold. Postgres would refuse such a
 * value on every retry (as VALUE_OUT_OF_RANGE, VALUE_TOO_LONG or a plain 500), which the processor's outbox takes for
 * a passing failure and would retry forever, holding back every later batch; as a validation answer the courier
 * parks the one outbox row and goes on.
 */
const INT4_MAX = 2_147_483_647;
/** Directus's `string` fields are varchar(255). */
const STRING_CHARS = 255;
/** Directus reads a timestamp with date-fns's parseISO, which takes four-digit years only. */
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

type Check = (value: unknown) => string | null;

const timestamp: Check = (value) => (typeof value === 'number' && value > LATEST_MS ? 'must be a time before the year 10000' : null);

/** `*_ms` fields are 4-byte integers (milliseconds in field-kinds). */
const int4: Check = (value) => (typeof value === 'number' && Math.abs(value) > INT4_MAX ? `must be within ±${INT4_MAX} (a 4-byte integer column)` : null);

/** Directus makes float fields `real`: Postgres refuses what overflows it, and a non-zero value that rounds to 0. */
const real: Check = (value) => {
  if (typeof value !== 'number') return null;
  const stored = Math.fround(value);
  return !Number.isFinite(stored) || (stored === 0 && value !== 0) ? 'must fit a 4-byte float column (real)' : null;
};

/** Text columns refuse NUL; an unpaired surrogate is stored as U+FFFD, so the row would never match its fact. */
const badText = (text: string): string | null => {
  if (text.includes('\u0000')) return 'must not contain NUL characters';
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)) return 'must not contain unpaired UTF-16 surrogates';
  return null;
};

const text: Check = (value) => {
  if (typeof value !== 'string') return null;
  return value.length > STRING_CHARS ? `must be at most ${STRING_CHARS} characters` : badText(value);
};

/** jsonb refuses NUL (`\u0000`) and unpaired surrogates in strings and keys alike. Returns the first offending path. */
function badJson(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; message: string } | null {
  if (typeof value === 'string') {
    const message = badText(value);
    return message ? { path, message } : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = badJson(value[i], [...path, i]);
      if (bad) return bad;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const message = badText(key);
      if (message) return { path: [...path, key], message: `key ${message}` };
      const bad = badJson(item, [...path, key]);
      if (bad) return bad;
    }
  }
  return null;
}

type Checks<F> = Partial<Record<Exclude<keyof F, 'type'>, Check | 'json'>>;

/** The stored fields of each fact (see factRow), by the column kind that stores them. */
const checks: { [T in Fact['type']]: Checks<Extract<Fact, { type: T }>> } = {
  crossing: { deviceId: text, crossedAt: timestamp, speedKmh: real },
  stage_result: { startedAt: timestamp, finishedAt: timestamp, elapsedMs: int4, penaltyMs: int4, totalMs: int4 },
  penalty: { amountMs: int4, details: 'json' },
  anomaly: { deviceId: text, startedAt: timestamp, endedAt: timestamp, details: 'json' },
};

/** The values of a batch's upserts that their columns cannot hold, as zod-shaped issues. */
export function unstorableIssues(batch: FactBatch): FactIssue[] {
  const issues: FactIssue[] = [];
  batch.upserts.forEach((fact, i) => {
    for (const [field, check] of Object.entries(checks[fact.type]) as [string, Check | 'json'][]) {
      const value = (fact as unknown as Record<string, unknown>)[field];
      if (check === 'json') {
        const bad = badJson(value);
        if (bad) issues.push({ code: 'custom', path: ['upserts', i, field, ...bad.path], message: bad.message });
        continue;
      }
      const message = check(value);
      if (message) issues.push({ code: 'custom', path: ['upserts', i, field], message });
    }
  });
  return issues;
}
