import { describe, expect, it } from 'vitest';
import { describeStep, planSchema } from '../../../src/setup/plan-schema.ts';
import { pitwallCollections } from '../../../src/setup/pitwall-schema.ts';

const none = { collections: new Set<string>(), fields: new Set<string>(), relations: new Set<string>() };

function everything() {
  return {
    collections: new Set(pitwallCollections.map((c) => c.collection)),
    fields: new Set(pitwallCollections.flatMap((c) => c.fields.map((f) => `${c.collection}.${f.field}`))),
    relations: new Set(pitwallCollections.flatMap((c) => c.relations.map((r) => `${r.collection}.${r.field}`))),
  };
}

describe('planSchema', () => {
  it('on an empty Directus creates every collection, then columns, then o2m aliases, then relations', () => {
    const steps = planSchema(pitwallCollections, none);
    const kinds: string[] = steps.map((s) => (s.kind === 'field' && s.field.type === 'alias' ? 'alias' : s.kind));
    const firstOf = (kind: string) => kinds.indexOf(kind);
    const lastOf = (kind: string) => kinds.lastIndexOf(kind);
    expect(lastOf('collection')).toBeLessThan(firstOf('field'));
    expect(lastOf('field')).toBeLessThan(firstOf('alias'));
    expect(lastOf('alias')).toBeLessThan(firstOf('relation'));
    expect(steps.filter((s) => s.kind === 'collection')).toHaveLength(pitwallCollections.length);
  });

  it('creates collections with their primary key, and folders without a table', () => {
    const steps = planSchema(pitwallCollections, none);
    const events = steps.find((s) => s.kind === 'collection' && s.collection === 'events');
    expect(events).toMatchObject({ folder: false, primaryKey: { field: 'id', type: 'uuid', schema: { is_primary_key: true } } });
    const folder = steps.find((s) => s.kind === 'collection' && s.collection === 'pitwall_timing');
    expect(folder).toMatchObject({ folder: true, primaryKey: null });
    // The primary key is created with the collection, never again as a field.
    expect(steps.some((s) => s.kind === 'field' && s.field.field === 'id')).toBe(false);
  });

  it('has nothing to do when everything exists', () => {
    expect(planSchema(pitwallCollections, everything())).toEqual([]);
  });

  it('adds only what is missing and ignores what it does not know', () => {
    const existing = everything();
    existing.fields.delete('anomalies.ended_at');
    existing.relations.delete('geofences.stage');
    existing.fields.add('events.sponsor');
    existing.collections.add('admin_notes');
    const steps = planSchema(pitwallCollections, existing);
    expect(steps.map(describeStep)).toEqual(['add field anomalies.ended_at', 'relate geofences.stage -> stages']);
  });

  it('never plans a deletion or a change', () => {
    const kinds = new Set(planSchema(pitwallCollections, none).map((s) => s.kind));
    expect([...kinds].sort()).toEqual(['collection', 'field', 'relation']);
  });

  it('does not mutate the schema definition', () => {
    const before = JSON.stringify(pitwallCollections);
    planSchema(pitwallCollections, none);
    expect(JSON.stringify(pitwallCollections)).toBe(before);
  });
});
