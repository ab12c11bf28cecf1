import { describe, expect, it } from 'vitest';
import { rowsPassFieldRules } from '../../../extensions/pitwall/src/shared/fact-table-writes.ts';

type SchemaOverview = Parameters<typeof rowsPassFieldRules>[0];
type Field = SchemaOverview['collections'][string]['fields'][string];

const field = (name: string, over: Partial<Field> = {}): Field =>
  ({ field: name, defaultValue: null, nullable: true, generated: false, type: 'string', dbType: 'text', precision: null, scale: null, special: [], note: null, validation: null, alias: false, searchable: true, ...over }) as Field;

/** entry_crossings as setup makes it: required fields not nullable, a uuid key, the m2o fields, a default for source. */
const schema = (extra: Field[] = []): SchemaOverview =>
  ({
    collections: {
      entry_crossings: {
        collection: 'entry_crossings', primary: 'id', singleton: false, sortField: null, note: null, accountability: 'all',
        fields: Object.fromEntries(
          [
            field('id', { nullable: false, special: ['uuid'], type: 'uuid' }),
            field('entry', { nullable: false, special: ['m2o'], type: 'uuid' }),
            field('crossed_at', { nullable: false, type: 'timestamp' }),
            field('speed_kmh', { type: 'float' }),
            field('source', { nullable: false, defaultValue: 'live' }),
            ...extra,
          ].map((f) => [f.field, f]),
        ),
      },
    },
    relations: [],
  }) as unknown as SchemaOverview;

const row = { id: 'c1', entry: 'e1', crossed_at: '2026-01-11T09:30:00.457Z', speed_kmh: 91.5, source: 'live' };

describe('rowsPassFieldRules: whether Directus would decide nothing about these rows', () => {
  it('passes complete creates and updates of the fields setup makes', () => {
    expect(rowsPassFieldRules(schema(), 'entry_crossings', [row], [{ id: 'c2', speed_kmh: null }])).toBe(true);
    // A field with a default may be left out of a create; the database fills it.
    const { source: _source, ...withoutSource } = row;
    expect(rowsPassFieldRules(schema(), 'entry_crossings', [withoutSource], [])).toBe(true);
  });

  it('refuses a create that leaves out, or nulls, a field that may not be null and has no default', () => {
    const { crossed_at: _crossedAt, ...withoutTime } = row;
    expect(rowsPassFieldRules(schema(), 'entry_crossings', [withoutTime], [])).toBe(false);
    expect(rowsPassFieldRules(schema(), 'entry_crossings', [{ ...row, entry: null }], [])).toBe(false);
  });

  it('refuses an update that nulls such a field, but not one that leaves it alone', () => {
    expect(rowsPassFieldRules(schema(), 'entry_crossings', [], [{ id: 'c1', crossed_at: null }])).toBe(false);
    expect(rowsPassFieldRules(schema(), 'entry_crossings', [], [{ id: 'c1', speed_kmh: 12 }])).toBe(true);
  });

  it('refuses a collection whose data model has a validation rule, or a field Directus fills on a write', () => {
    expect(rowsPassFieldRules(schema([field('note', { validation: { note: { _nempty: true } } })]), 'entry_crossings', [row], [])).toBe(false);
    expect(rowsPassFieldRules(schema([field('checked_by', { special: ['user-updated'] })]), 'entry_crossings', [], [{ id: 'c1', speed_kmh: 1 }])).toBe(false);
    expect(rowsPassFieldRules(schema([field('secret', { special: ['hash'] })]), 'entry_crossings', [row], [])).toBe(false);
    expect(rowsPassFieldRules(schema([field('added_at', { nullable: false, special: ['date-created'] })]), 'entry_crossings', [row], [])).toBe(false);
  });

  it('lets through a field the database generates, and a nullable field added by hand', () => {
    expect(rowsPassFieldRules(schema([field('remark')]), 'entry_crossings', [row], [])).toBe(true);
    expect(rowsPassFieldRules(schema([field('seq', { nullable: false, generated: true })]), 'entry_crossings', [row], [])).toBe(true);
  });
});
