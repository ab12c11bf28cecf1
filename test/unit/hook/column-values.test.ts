import { describe, expect, it } from 'vitest';
import { columnGuard, columnValueProblem, payloadProblems, pitwallCollectionNames } from '../../../extensions/pitwall/src/shared/column-values.ts';
import { courseGuard } from '../../../extensions/pitwall/src/shared/course-guard.ts';
import { crossingGuard } from '../../../extensions/pitwall/src/shared/timing-guard.ts';

type FieldType = 'uuid' | 'integer' | 'bigInteger' | 'float' | 'decimal' | 'boolean' | 'json' | 'timestamp' | 'string' | 'text' | 'alias';
const field = (type: FieldType, extra: Record<string, unknown> = {}) =>
  ({ field: 'f', type, dbType: null, precision: null, scale: null, special: [], alias: type === 'alias', ...extra }) as never;
const ok = (type: FieldType, value: unknown, extra: Record<string, unknown> = {}) => columnValueProblem(field(type, extra), value, 'create');

/** A schema overview with the fields of entry_penalties and entry_devices as setup makes them. */
const schema = {
  collections: {
    entry_penalties: {
      collection: 'entry_penalties', primary: 'id',
      fields: {
        id: field('uuid', { special: ['uuid'] }), entry: field('uuid', { special: ['m2o'] }), stage: field('uuid', { special: ['m2o'] }),
        kind: field('string'), amount_ms: field('integer'), details: field('json', { dbType: 'json', special: ['cast-json'] }),
      },
    },
    replay_runs: {
      collection: 'replay_runs', primary: 'id',
      fields: { processed: field('bigInteger'), date_created: field('timestamp', { special: ['date-created'] }), user_created: field('uuid', { special: ['user-created'] }) },
    },
  },
  relations: [
    { collection: 'entry_penalties', field: 'entry', related_collection: 'entries' },
    { collection: 'entry_penalties', field: 'stage', related_collection: 'stages' },
  ],
} as never;

describe('columnValueProblem', () => {
  it('takes null, and leaves out what Directus makes itself', () => {
    for (const type of ['uuid', 'integer', 'json', 'timestamp'] as const) expect(ok(type, null)).toBeNull();
    expect(ok('uuid', '', { special: ['uuid'] })).toBeNull();
    expect(columnValueProblem(field('uuid', { special: ['uuid'] }), '', 'update')).not.toBeNull();
    expect(ok('timestamp', 'whenever', { special: ['date-created'] })).toBeNull();
    expect(ok('uuid', 'me', { special: ['user-created'] })).toBeNull();
  });

  it('refuses what is no uuid, and takes every spelling Postgres reads as one', () => {
    for (const good of ['5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab', '5F0C8A4E-2B1D-4C3E-9A7F-0123456789AB', '{5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab}', '5f0c8a4e2b1d4c3e9a7f0123456789ab', '5f0c-8a4e-2b1d-4c3e-9a7f-0123-4567-89ab']) {
      expect(ok('uuid', good), good).toBeNull();
    }
    expect(ok('uuid', 'not-a-uuid')).toBe('expected a uuid such as 5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab, not "not-a-uuid"');
    for (const bad of ['', '5f0c8a4e-2b1d-4c3e-9a7f-0123456789a', '5f0c8a4e-2b1d-4c3e-9a7f-0123456789abc', '5f0c8a4-e2b1d-4c3e-9a7f-0123456789ab', 42, true, ['x']]) {
      expect(ok('uuid', bad), JSON.stringify(bad)).not.toBeNull();
    }
  });

  it('takes whole numbers as numbers or decimal text within the column, and nothing else', () => {
    for (const good of [0, -5, 2_147_483_647, -2_147_483_648, '12', ' -7 ', '+3', '007']) expect(ok('integer', good), JSON.stringify(good)).toBeNull();
    expect(ok('integer', 'abc')).toBe('expected a whole number from -2147483648 to 2147483647, not "abc"');
    for (const bad of [1.5, '1.5', '', ' ', '1e3', 2_147_483_648, '-2147483649', true, '0x10', '1_000', { a: 1 }]) expect(ok('integer', bad), JSON.stringify(bad)).not.toBeNull();
    // 8-byte integers come as text: beyond what a JS number holds exactly.
    for (const good of ['9223372036854775807', '-9223372036854775808', 2 ** 53]) expect(ok('bigInteger', good), String(good)).toBeNull();
    for (const bad of ['9223372036854775808', 'x', 1e21, 0.5]) expect(ok('bigInteger', bad), String(bad)).not.toBeNull();
  });

  it('takes numbers that fit a real and the texts Postgres reads as one', () => {
    for (const good of [0, -1.5, 3.4e38, 1e-30, '12.5', ' .5 ', '1e3', 'NaN', '-Infinity', 'inf', '0x1A']) expect(ok('float', good), String(good)).toBeNull();
    for (const bad of [1e39, 1e-50, '1e39', 'abc', '', '1,5', true, [1]]) expect(ok('float', bad), String(bad)).not.toBeNull();
    // A double precision column (the processor's status, made by SQL) takes what a real cannot.
    for (const good of [1e39, 1e-50, '1e39', 'NaN']) expect(ok('float', good, { dbType: 'double precision' }), String(good)).toBeNull();
    for (const bad of ['1e400', 'abc', '']) expect(ok('float', bad, { dbType: 'double precision' }), String(bad)).not.toBeNull();
  });

  it('takes decimals that fit numeric(precision, scale)', () => {
    const decimal = { precision: 24, scale: 12 };
    for (const good of [1, '0.001000000000', '-999999999999.5', '+.5', 'NaN', 123456789012.25]) expect(ok('decimal', good, decimal), String(good)).toBeNull();
    for (const bad of ['abc', '', '1000000000000', 1e12, 'Infinity', true]) expect(ok('decimal', bad, decimal), String(bad)).not.toBeNull();
    expect(ok('decimal', '1000000000000', decimal)).toBe('expected a decimal number with at most 12 digits before the decimal point, not "1000000000000"');
    expect(ok('decimal', 'Infinity')).toBeNull();
    // Past the scale, Postgres rounds without a word: a multiplier of 1e-13 became 0.
    for (const bad of [1e-13, 1.5e-12, 0.1234567890123456, '0.0000000000001', '1e-13']) {
      expect(ok('decimal', bad, decimal), String(bad)).toMatch(/^expected a decimal number with at most 12 digits after the decimal point \(more would be rounded away\)/);
    }
    for (const good of [1e-12, 0.000001, '1.500000000000000', '5e2']) expect(ok('decimal', good, decimal), String(good)).toBeNull();
  });

  it('reads a numeric column\'s precision and scale from the column when Directus\'s schema leaves them out', () => {
    const numerics = { lengths: new Map(), numerics: new Map([['io_mappings.multiplier', { precision: 24, scale: 12 }]]) };
    const overview = { collections: { io_mappings: { fields: { multiplier: { field: 'multiplier', type: 'decimal', dbType: 'numeric', precision: null, scale: null, special: [], alias: false } } } }, relations: [] } as never;
    expect(payloadProblems(overview, 'io_mappings', { multiplier: 1e13 }, 'create', numerics)).toEqual([
      { field: 'multiplier', message: 'expected a decimal number with at most 12 digits before the decimal point, not 10000000000000' },
    ]);
    expect(payloadProblems(overview, 'io_mappings', { multiplier: 1e13 }, 'create')).toEqual([]);
  });

  it('takes what Postgres reads as a boolean', () => {
    for (const good of [true, false, 0, 1, 't', 'TRUE', ' yes ', 'of', 'off', 'on', 'n', '0']) expect(ok('boolean', good), String(good)).toBeNull();
    for (const bad of ['o', '', 'maybe', 2, 'truex', '00']) expect(ok('boolean', bad), String(bad)).not.toBeNull();
  });

  it('takes JSON values and JSON text, not other text', () => {
    for (const good of [{ a: 1 }, [1, 'x'], 5, true, '{"a":1}', '"text"', '42', 'null']) expect(ok('json', good), JSON.stringify(good)).toBeNull();
    expect(ok('json', 'notjson{')).toBe('expected JSON (text sent for a JSON field must be JSON text), not "notjson{"');
    expect(ok('json', 'hello')).not.toBeNull();
    // jsonb refuses NUL and lone surrogates; json keeps them.
    expect(ok('json', { a: 'x\u0000' }, { dbType: 'jsonb' })).toBe('must not contain NUL characters');
    expect(ok('json', { ['\ud800']: 1 }, { dbType: 'jsonb' })).toBe('must not contain unpaired UTF-16 surrogates');
    // However deep the sender nests it (a recursive walk would overflow the stack and answer 500).
    const deep = `${'['.repeat(200_000)}"x\\u0000"${']'.repeat(200_000)}`;
    expect(ok('json', deep, { dbType: 'jsonb' })).toBe('must not contain NUL characters');
    expect(ok('json', { a: 'x\u0000' }, { dbType: 'json' })).toBeNull();
  });

  it('takes the times Directus makes a time of, from year 1 on', () => {
    for (const good of ['2026-03-14T08:00:00.705Z', '2026-03-14 08:00', '2026-03-14', '0001-01-01T00:00:00Z', '0000-00-00 00:00:00', new Date()]) expect(ok('timestamp', good), String(good)).toBeNull();
    expect(ok('timestamp', 'soon')).toBe('expected a date and time such as 2026-03-14T08:00:00.705Z, not "soon"');
    expect(ok('timestamp', '0000-01-01T00:00:00Z')).toBe('must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time');
    for (const bad of ['', '2026-02-30T10:00:00Z', 1_767_000_000_000, 0, false, new Date(Number.NaN), { at: 1 }]) expect(ok('timestamp', bad), String(bad)).not.toBeNull();
  });

  it('refuses NUL in text and takes anything else there', () => {
    expect(ok('string', 'a\u0000b')).toBe('must not contain NUL characters');
    for (const good of ['x', 5, { a: 1 }, true]) expect(ok('text', good)).toBeNull();
    expect(ok('text', 'a\u0000b', { special: ['encrypt'] })).toBeNull();
  });
});

describe('payloadProblems', () => {
  it('names every field whose value its column refuses, and lets related items through', () => {
    const payload = { entry: 'not-a-uuid', stage: { name: 'SS9' }, kind: 'manual', amount_ms: '1000', details: 'notjson{', unknown_field: 'x' };
    expect(payloadProblems(schema, 'entry_penalties', payload, 'create')).toEqual([
      { field: 'entry', message: 'expected a uuid such as 5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab, not "not-a-uuid"' },
      { field: 'details', message: 'expected JSON (text sent for a JSON field must be JSON text), not "notjson{"' },
    ]);
    // An object for a field that is no relation is stringified by Directus, and refused by Postgres.
    expect(payloadProblems(schema, 'entry_penalties', { amount_ms: { value: 1 } }, 'update')).toEqual([{ field: 'amount_ms', message: 'expected a whole number, not an object' }]);
    expect(payloadProblems(schema, 'replay_runs', { processed: '12345678901234', date_created: 'x', user_created: 'y' }, 'create')).toEqual([]);
    expect(payloadProblems(schema, 'directus_users', { x: 1 }, 'create')).toEqual([]);
  });

  it('names a text longer than its column, counting characters as Postgres does', () => {
    const lengths = { lengths: new Map([['entry_penalties.kind', 10]]), numerics: new Map() };
    expect(payloadProblems(schema, 'entry_penalties', { kind: 'x'.repeat(11) }, 'create', lengths)).toEqual([{ field: 'kind', message: 'at most 10 characters, got 11' }]);
    expect(payloadProblems(schema, 'entry_penalties', { kind: 'x'.repeat(10) }, 'create', lengths)).toEqual([]);
    // Ten characters, twenty UTF-16 units.
    expect(payloadProblems(schema, 'entry_penalties', { kind: '🏁'.repeat(10) }, 'create', lengths)).toEqual([]);
    expect(payloadProblems(schema, 'entry_penalties', { kind: 'x'.repeat(11) }, 'create')).toEqual([]);
  });

  it('covers the collections setup makes, not its folders', () => {
    expect(pitwallCollectionNames).toEqual(expect.arrayContaining(['entry_penalties', 'entry_crossings', 'io_mappings', 'entry_devices', 'geofences', 'replay_runs']));
    expect(pitwallCollectionNames.some((name) => name.startsWith('pitwall_'))).toBe(false);
  });
});

describe('columnGuard', () => {
  const admin = { user: 'u1', role: null, admin: true } as never;
  it('answers a 400 naming the fields, with zod-shaped issues', async () => {
    const guard = columnGuard(() => { throw new Error('no permission query for an admin'); });
    await expect(guard('entry_penalties', 'create', { entry: 'x', amount_ms: 1000 }, schema, admin)).rejects.toMatchObject({
      status: 400, code: 'INVALID_PAYLOAD', extensions: { issues: [{ code: 'custom', path: ['entry'], message: expect.stringContaining('expected a uuid') }] },
    });
    const payload = { entry: '5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab', amount_ms: 1000 };
    expect(await guard('entry_penalties', 'create', payload, schema, admin)).toBe(payload);
  });

  it('leaves a caller who may not write to Directus\'s 403', async () => {
    const noGrants = () => {
      const builder: Record<string, unknown> = {};
      Object.assign(builder, { join: () => builder, where: () => builder, andWhere: () => builder, first: async () => undefined });
      return builder;
    };
    const guard = columnGuard(noGrants);
    const payload = { entry: 'x' };
    expect(await guard('entry_penalties', 'create', payload, schema, { user: 'u2', role: 'r', admin: false } as never)).toBe(payload);
  });
});

describe('hand corrections of crossings', () => {
  const admin = { user: 'u1', role: null, admin: true } as never;
  const crossings = crossingGuard(null, { now: () => new Date('2026-03-14T09:00:00Z') });
  const refusal = (payload: Record<string, unknown>) => crossings(payload, 'update', admin).then(() => null, (error) => error.extensions.reason as string);

  it('refuses a time before year 1 and a kind the timing does not read, naming the field', async () => {
    expect(await refusal({ crossed_at: '0000-01-01T00:00:00Z' })).toBe('crossed_at: crossed_at must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time');
    expect(await refusal({ crossed_at: '0000-06-01 12:00' })).toMatch(/^crossed_at: crossed_at must be in year 1 or later/);
    expect(await refusal({ kind: 'nope' })).toBe('kind: expected one of start, split, finish, not "nope"');
    expect(await refusal({ kind: 3 })).toBe('kind: expected one of start, split, finish, not 3');
  });

  it('takes a real time and the kinds of crossing', async () => {
    for (const kind of ['start', 'split', 'finish']) expect(await refusal({ kind })).toBeNull();
    expect(await crossings({ crossed_at: '0001-01-01T00:00:00Z' }, 'update', admin)).toEqual({ crossed_at: '0001-01-01T00:00:00Z', corrected_at: '2026-03-14T09:00:00.000Z' });
  });
});

describe("a gate's direction", () => {
  const admin = { user: 'u1', role: null, admin: true } as never;
  const line = { type: 'LineString', coordinates: [[-4.2, 31.4], [-4.21, 31.41]] };
  const course = courseGuard(null);
  const refusal = (direction: unknown) =>
    course.geofences({ kind: 'start_line', stage: 's', geometry: line, direction_deg: direction }, null, admin).then(() => null, (error) => error.extensions.reason as string);

  it('is a bearing in [0, 360), or nothing', async () => {
    for (const good of [0, 90, 359.999, null, undefined]) expect(await refusal(good), String(good)).toBeNull();
    expect(await refusal(720)).toBe('direction_deg: expected degrees from 0 up to 360 (not included), or nothing, not 720');
    for (const bad of [360, -90, -0.001]) expect(await refusal(bad), String(bad)).toMatch(/^direction_deg: expected degrees from 0 up to 360/);
    // A direction that is no number keeps the row check's own words.
    expect(await refusal('north')).toBe('direction_deg: expected degrees from 0 up to 360 (not included), or nothing, not "north"');
  });
});
