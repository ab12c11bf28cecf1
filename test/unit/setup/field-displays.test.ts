import { describe, expect, it } from 'vitest';
import { planFieldDisplays, planFieldInterfaces, type ExistingField } from '../../../src/setup/field-displays.ts';
import { pitwallCollections } from '../../../src/setup/pitwall-schema.ts';

const raceTimeFields = [
  'waypoints.penalty_ms',
  'entry_crossings.crossed_at',
  'stage_results.elapsed_ms',
  'stage_results.penalty_ms',
  'stage_results.total_ms',
  'stage_results.gap_ms',
  'entry_penalties.amount_ms',
  'anomalies.started_at',
  'anomalies.ended_at',
];

/** Every race-time field as an earlier setup left it. */
function earlierInstall(): ExistingField[] {
  return raceTimeFields.map((key) => {
    const [collection, field] = key.split('.') as [string, string];
    return {
      collection,
      field,
      meta: field.endsWith('_at') ? { display: 'datetime', display_options: { format: 'long' } } : { display: 'formatted-value', display_options: { suffix: ' ms' } },
    };
  });
}

describe('planFieldDisplays', () => {
  it('gives every duration field, the crossing time and the anomalies\' times the race-time display, gaps signed', () => {
    const steps = planFieldDisplays(pitwallCollections, earlierInstall());
    expect(steps.map((s) => `${s.collection}.${s.field}`).sort()).toEqual([...raceTimeFields].sort());
    for (const step of steps) expect(step.display).toBe('pitwall-race-time');
    expect(steps.find((s) => s.field === 'gap_ms')?.display_options).toEqual({ decimals: 'trim', signed: true });
    expect(steps.find((s) => s.field === 'total_ms')?.display_options).toEqual({ decimals: 'trim', signed: false });
    expect(steps.find((s) => s.field === 'crossed_at')?.display_options).toEqual({ decimals: '3' });
    // Read at a glance in the dashboard's narrow anomalies list: to the second.
    expect(steps.find((s) => s.field === 'started_at')?.display_options).toEqual({ decimals: '0' });
  });

  it('names duration fields after what they hold ("Total"), unless the field has a name already', () => {
    const steps = planFieldDisplays(pitwallCollections, [
      ...earlierInstall().filter((f) => f.field !== 'amount_ms'),
      { collection: 'entry_penalties', field: 'amount_ms', meta: { display: null, display_options: null, translations: [{ language: 'en-US', translation: 'Penalty time' }] } },
    ]);
    expect(steps.find((s) => s.field === 'total_ms')?.translations).toEqual([{ language: 'en-US', translation: 'Total' }]);
    expect(steps.find((s) => s.field === 'gap_ms')?.translations).toEqual([{ language: 'en-US', translation: 'Gap' }]);
    expect(steps.find((s) => s.field === 'penalty_ms' && s.collection === 'waypoints')?.translations).toEqual([{ language: 'en-US', translation: 'Penalty' }]);
    expect(steps.find((s) => s.field === 'amount_ms')).not.toHaveProperty('translations');
    expect(steps.find((s) => s.field === 'crossed_at')).not.toHaveProperty('translations');
  });

  it('takes the displays Directus or an earlier setup left (none, raw, plain formatted value)', () => {
    const fields: ExistingField[] = [
      { collection: 'stage_results', field: 'elapsed_ms', meta: null },
      { collection: 'stage_results', field: 'penalty_ms', meta: { display: 'raw', display_options: null } },
      { collection: 'stage_results', field: 'total_ms', meta: { display: 'formatted-value', display_options: {} } },
    ];
    expect(planFieldDisplays(pitwallCollections, fields).map((s) => s.field)).toEqual(['elapsed_ms', 'penalty_ms', 'total_ms']);
  });

  it('leaves a display an admin chose, and race-time options an admin changed', () => {
    const fields: ExistingField[] = [
      { collection: 'stage_results', field: 'total_ms', meta: { display: 'formatted-value', display_options: { suffix: ' ms', format: true } } },
      { collection: 'stage_results', field: 'elapsed_ms', meta: { display: 'pitwall-race-time', display_options: { decimals: '1' } } },
      { collection: 'entry_crossings', field: 'crossed_at', meta: { display: 'datetime', display_options: { format: 'short' } } },
      { collection: 'entry_penalties', field: 'amount_ms', meta: { display: 'related-values', display_options: null } },
    ];
    expect(planFieldDisplays(pitwallCollections, fields)).toEqual([]);
  });

  it('changes nothing once every field shows race time, and nothing on fields that are not there', () => {
    const done = planFieldDisplays(pitwallCollections, earlierInstall()).map((s) => ({
      collection: s.collection, field: s.field, meta: { display: s.display, display_options: s.display_options },
    }));
    expect(planFieldDisplays(pitwallCollections, done)).toEqual([]);
    expect(planFieldDisplays(pitwallCollections, [])).toEqual([]);
  });
});

describe('planFieldInterfaces', () => {
  const crossedAt = (meta: ExistingField['meta']): ExistingField[] => [{ collection: 'entry_crossings', field: 'crossed_at', meta }];
  const amount = (meta: ExistingField['meta']): ExistingField[] => [{ collection: 'entry_penalties', field: 'amount_ms', meta }];

  it('gives the crossing time the millisecond input where an earlier setup left the date-time picker', () => {
    expect(planFieldInterfaces(pitwallCollections, crossedAt({ interface: 'datetime' }))).toEqual([{ collection: 'entry_crossings', field: 'crossed_at', interface: 'pitwall-precise-time', options: null }]);
  });

  it('gives durations the race-time input where an earlier setup left the number input, signed where they are', () => {
    expect(planFieldInterfaces(pitwallCollections, amount({ interface: 'input' }))).toEqual([{ collection: 'entry_penalties', field: 'amount_ms', interface: 'pitwall-race-duration', options: { maxMs: 360_000_000 } }]);
    const gap: ExistingField[] = [{ collection: 'stage_results', field: 'gap_ms', meta: { interface: 'input' } }];
    expect(planFieldInterfaces(pitwallCollections, gap)).toEqual([{ collection: 'stage_results', field: 'gap_ms', interface: 'pitwall-race-duration', options: { signed: true } }]);
  });

  it('says how a duration is typed where its note still said milliseconds, and leaves an admin\'s own note', () => {
    const earlier = 'Milliseconds, stored as a 4-byte integer (up to 24 days) so the API answers a JSON number.';
    const [step] = planFieldInterfaces(pitwallCollections, amount({ interface: 'input', note: earlier }));
    expect(step!.note).toMatch(/^Typed as race time: 10 is ten seconds, 1:30\.250 a minute and a half\. Stored in milliseconds/);
    const waypoint: ExistingField[] = [{ collection: 'waypoints', field: 'penalty_ms', meta: { interface: 'input', note: `Added to the stage time when missed. ${earlier}` } }];
    expect(planFieldInterfaces(pitwallCollections, waypoint)[0]!.note).toMatch(/^Added to the stage time when missed\. Typed as race time: /);
    expect(planFieldInterfaces(pitwallCollections, amount({ interface: 'input', note: 'Our own words' }))[0]).not.toHaveProperty('note');
  });

  it('leaves a field an admin gave another interface, one already set, and one that does not exist', () => {
    expect(planFieldInterfaces(pitwallCollections, crossedAt({ interface: 'input' }))).toEqual([]);
    expect(planFieldInterfaces(pitwallCollections, crossedAt({ interface: 'pitwall-precise-time' }))).toEqual([]);
    expect(planFieldInterfaces(pitwallCollections, amount({ interface: 'slider' }))).toEqual([]);
    expect(planFieldInterfaces(pitwallCollections, amount({ interface: 'pitwall-race-duration' }))).toEqual([]);
    expect(planFieldInterfaces(pitwallCollections, [])).toEqual([]);
  });
});
