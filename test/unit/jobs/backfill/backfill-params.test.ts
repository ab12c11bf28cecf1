import { describe, expect, it } from 'vitest';
import { backfillParamsSchema } from '../../../../src/jobs/backfill/backfill-params.ts';

const range = { from: '2026-03-01T08:00:00Z', to: '2026-03-01T12:00:00.000+02:00' };
const issues = (input: unknown) => {
  const parsed = backfillParamsSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('backfillParamsSchema', () => {
  it('accepts a model or a list of devices over a range', () => {
    expect(backfillParamsSchema.parse({ model: '3f6c9f0e-2c47-4a7e-9d53-1d2c8f7a9b10', ...range })).toEqual({ model: '3f6c9f0e-2c47-4a7e-9d53-1d2c8f7a9b10', ...range });
    expect(backfillParamsSchema.parse({ devices: ['356307042441013', '356307042441014'], ...range })).toEqual({ devices: ['356307042441013', '356307042441014'], ...range });
  });

  it('wants exactly one of model and devices', () => {
    expect(issues({ ...range })).toEqual([': give exactly one of model or devices']);
    expect(issues({ model: 'FMB920', devices: ['356307042441013'], ...range })).toEqual(['devices: give exactly one of model or devices']);
  });

  it('refuses an empty device list, an empty model and an empty IMEI', () => {
    expect(issues({ devices: [], ...range })).toEqual(['devices: devices must list at least one IMEI']);
    expect(issues({ model: ' ', ...range })).toEqual(['model: model must not be empty']);
    expect(issues({ devices: [''], ...range })).toEqual(['devices.0: expected a tracker id (IMEI) of 1-64 letters or digits']);
  });

  it('refuses what no stored tracker id or model can be, before it reaches the database (a NUL made Postgres answer 500)', () => {
    expect(issues({ devices: ['35\u0000'], ...range })).toEqual(['devices.0: expected a tracker id (IMEI) of 1-64 letters or digits']);
    expect(issues({ devices: ['3569 0704'], ...range })).toEqual(['devices.0: expected a tracker id (IMEI) of 1-64 letters or digits']);
    expect(issues({ model: 'F\u0000B', ...range })).toEqual(['model: must not contain NUL characters']);
    expect(issues({ devices: [' 356307042441013 '], ...range })).toEqual([]);
  });

  it('bounds what it takes, so that a refusal never echoes a 100 kB IMEI back', () => {
    expect(issues({ devices: ['356307042441013', '9'.repeat(100_000)], ...range })).toEqual(['devices.1: expected a tracker id (IMEI) of 1-64 letters or digits']);
    expect(issues({ model: 'M'.repeat(256), ...range })).toEqual(['model: a model id or name is at most 255 characters']);
    expect(issues({ devices: Array.from({ length: 10_001 }, (_, i) => String(i)), ...range })).toEqual(['devices: devices lists at most 10,000 IMEIs (give model for a whole fleet)']);
    expect(issues({ devices: ['9'.repeat(64)], ...range })).toEqual([]);
  });

  it('wants ISO-8601 times with a zone, from before to', () => {
    expect(issues({ model: 'FMB920', from: '2026-03-01 08:00', to: range.to })).toEqual(['from: must be an ISO-8601 date-time with a time zone, e.g. 2026-03-01T08:00:00Z']);
    expect(issues({ model: 'FMB920', from: '2026-03-01T08:00:00', to: range.to })).toHaveLength(1);
    expect(issues({ model: 'FMB920', from: range.to, to: range.from })).toEqual(['to: to must be later than from']);
    expect(issues({ model: 'FMB920', from: range.from, to: range.from })).toEqual(['to: to must be later than from']);
    expect(issues({ model: 'FMB920', from: '+275760-09-13T00:00:00Z', to: range.to })).toEqual(['from: must be an ISO-8601 date-time with a time zone, e.g. 2026-03-01T08:00:00Z']);
    expect(issues({ model: 'FMB920' })).toEqual(['from: must be an ISO-8601 date-time with a time zone, e.g. 2026-03-01T08:00:00Z', 'to: must be an ISO-8601 date-time with a time zone, e.g. 2026-03-01T08:00:00Z']);
  });

  it('refuses fields it does not know, so a typo is not silently ignored', () => {
    expect(issues({ models: 'FMB920', model: 'FMB920', ...range })).toEqual([': Unrecognized key: "models"']);
  });

  it('takes a model id in upper case as the same id, in lower case, and leaves a model name as it is', () => {
    expect(backfillParamsSchema.parse({ model: '3F6C9F0E-2C47-4A7E-9D53-1D2C8F7A9B10', ...range }).model).toBe('3f6c9f0e-2c47-4a7e-9d53-1d2c8f7a9b10');
    expect(backfillParamsSchema.parse({ model: ' FMB920 ', ...range }).model).toBe('FMB920');
  });

  it('refuses a time before year 1, which Postgres does not store, naming the field', () => {
    expect(issues({ model: 'FMB920', from: '0000-01-01T00:00:00Z', to: range.to })).toEqual(['from: must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time']);
    expect(issues({ model: 'FMB920', from: '0000-06-01T00:00:00Z', to: '0000-07-01T00:00:00Z' })).toEqual([
      'from: must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time',
      'to: must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time',
    ]);
  });
});
