import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminToken, call } from '../support/directus-client.ts';
import { runSetupAgain } from '../support/stack.ts';

const stack = inject('stack');

const raceTimeFields = {
  'waypoints.penalty_ms': { decimals: 'trim', signed: false },
  'stage_results.elapsed_ms': { decimals: 'trim', signed: false },
  'stage_results.penalty_ms': { decimals: 'trim', signed: false },
  'stage_results.total_ms': { decimals: 'trim', signed: false },
  'stage_results.gap_ms': { decimals: 'trim', signed: true },
  'entry_penalties.amount_ms': { decimals: 'trim', signed: false },
  'entry_crossings.crossed_at': { decimals: '3' },
};

/** What a timekeeper sees in the collections: race times, and default layouts of the columns they read. */
describe('timing collections as a timekeeper reads them', () => {
  let token: string;
  const restore: (() => Promise<unknown>)[] = [];
  const field = async (key: string) => {
    const [collection, name] = key.split('.');
    return (await call(stack, `/fields/${collection}/${name}`, { token })).json.data as { type: string; meta: { display: string | null; display_options: Record<string, unknown> | null; required?: boolean }; schema: { is_nullable: boolean } };
  };
  const setDisplay = (key: string, display: string | null, display_options: Record<string, unknown> | null) => {
    const [collection, name] = key.split('.');
    return call(stack, `/fields/${collection}/${name}`, { token, method: 'PATCH', body: { meta: { display, display_options } } });
  };
  const defaults = async (collection: string) =>
    (await call(stack, `/presets?filter[collection][_eq]=${collection}&filter[user][_null]=true&filter[role][_null]=true&filter[bookmark][_null]=true&fields=id,layout,layout_query,layout_options&limit=-1`, { token })).json.data as any[];

  beforeAll(async () => {
    token = await adminToken(stack);
  });

  afterAll(async () => {
    for (const step of restore.reverse()) await step();
  });

  it('shows durations and crossing times with the race-time display; stage_results has a gap to the leader in milliseconds', async () => {
    for (const [key, options] of Object.entries(raceTimeFields)) {
      const f = await field(key);
      expect(f.meta.display, key).toBe('pitwall-race-time');
      expect(f.meta.display_options, key).toEqual(options);
    }
    expect((await field('stage_results.gap_ms')).type).toBe('integer');
    expect(((await call(stack, '/collections/entry_penalties', { token })).json.data.meta.display_template)).toBe('#{{entry.race_number}} {{kind}} +{{amount_ms}}');
    expect(((await call(stack, '/collections/stage_results', { token })).json.data.meta.display_template)).toBe('#{{entry.race_number}} {{stage.name}} · {{status}} · {{total_ms}}');
  });

  it('brings a field an earlier setup left to race time, and leaves a display an admin chose', async () => {
    // As an earlier setup left them: " ms" after the number, the long date.
    await setDisplay('stage_results.total_ms', 'formatted-value', { suffix: ' ms' });
    await setDisplay('entry_crossings.crossed_at', 'datetime', { format: 'long' });
    const earlierNote = 'Milliseconds, stored as a 4-byte integer (up to 24 days) so the API answers a JSON number.';
    await call(stack, '/fields/entry_penalties/amount_ms', { token, method: 'PATCH', body: { meta: { interface: 'input', options: { min: null, max: null, iconRight: null }, note: earlierNote } } });
    await call(stack, '/collections/entry_penalties', { token, method: 'PATCH', body: { meta: { display_template: '#{{entry.race_number}} {{kind}} +{{amount_ms}} ms' } } });
    await call(stack, '/collections/stage_results', { token, method: 'PATCH', body: { meta: { display_template: '{{rank}}. #{{entry.race_number}} {{total_ms}}' } } });
    // The form asked a timekeeper for the IMEI of a stopwatch time.
    await call(stack, '/fields/entry_crossings/device_id', { token, method: 'PATCH', body: { meta: { required: true, note: 'Tracker IMEI' } } });
    // An admin's choices.
    await setDisplay('stage_results.elapsed_ms', 'formatted-value', { suffix: ' ms', format: true });
    restore.push(() => setDisplay('stage_results.elapsed_ms', 'pitwall-race-time', raceTimeFields['stage_results.elapsed_ms']));
    await setDisplay('stage_results.gap_ms', 'pitwall-race-time', { decimals: '1', signed: true });
    restore.push(() => setDisplay('stage_results.gap_ms', 'pitwall-race-time', raceTimeFields['stage_results.gap_ms']));

    expect((await runSetupAgain(stack)).sort()).toEqual([
      "let a crossing set by hand leave entry_crossings.device_id empty (the entry's tracker)",
      'show entry_crossings.crossed_at as race time',
      'show entry_penalties amounts as race time in their display template',
      'show stage_results.total_ms as race time',
      'title stage_results by entry, stage and status',
      'type entry_penalties.amount_ms with pitwall-race-duration',
    ]);
    expect((await call(stack, '/fields/entry_penalties/amount_ms', { token })).json.data.meta).toMatchObject({
      interface: 'pitwall-race-duration',
      options: { maxMs: 360_000_000 },
      note: 'Typed as race time: 10 is ten seconds, 1:30.250 a minute and a half. Stored in milliseconds, a 4-byte integer so the API answers a JSON number.',
    });
    expect((await field('entry_crossings.device_id')).meta).toMatchObject({ required: false, note: "Tracker IMEI. Leave it empty on a crossing set by hand: it is then the entry's tracker at that time." });
    expect((await field('entry_crossings.device_id')).schema.is_nullable).toBe(false);
    expect((await field('stage_results.total_ms')).meta).toMatchObject({ display: 'pitwall-race-time', display_options: raceTimeFields['stage_results.total_ms'] });
    expect((await field('entry_crossings.crossed_at')).meta).toMatchObject({ display: 'pitwall-race-time', display_options: { decimals: '3' } });
    expect((await field('stage_results.elapsed_ms')).meta).toMatchObject({ display: 'formatted-value', display_options: { suffix: ' ms', format: true } });
    expect((await field('stage_results.gap_ms')).meta.display_options).toEqual({ decimals: '1', signed: true });
    expect(await runSetupAgain(stack)).toEqual([]);
  });

  it('opens Stage Results by rank with crew, stage, status, total and gap; Entry Crossings newest first with gate and time', async () => {
    const [results] = await defaults('stage_results');
    expect(results).toMatchObject({ layout: 'tabular', layout_query: { tabular: { sort: ['rank'], fields: ['rank', 'entry', 'stage', 'status', 'total_ms', 'gap_ms'] } } });
    const [crossings] = await defaults('entry_crossings');
    expect(crossings).toMatchObject({ layout: 'tabular', layout_query: { tabular: { sort: ['-crossed_at'], fields: ['entry', 'geofence', 'kind', 'crossed_at', 'corrected_at', 'device_id'] } } });
    const [penalties] = await defaults('entry_penalties');
    expect(penalties).toMatchObject({ layout: 'tabular', layout_query: { tabular: { fields: ['entry', 'stage', 'kind', 'amount_ms', 'reason', 'waived', 'waived_reason'] } } });
    const [entries] = await defaults('entries');
    expect(entries).toMatchObject({ layout: 'tabular', layout_query: { tabular: { sort: ['race_number'], fields: ['race_number', 'name', 'category', 'event'] } } });
  });

  it('serves the results in that order, with the gap, to a reader of the layout’s query', async () => {
    const [results] = await defaults('stage_results');
    const { fields, sort } = results.layout_query.tabular;
    const res = await call(stack, `/items/stage_results?fields=${fields.join(',')}&sort=${sort.join(',')}&limit=5`, { token });
    expect(res.status, res.text).toBe(200);
    // Penalties by their entry's race number (a sort on the related entry, which Directus takes).
    const [penalties] = await defaults('entry_penalties');
    const listed = await call(stack, `/items/entry_penalties?fields=entry.race_number&sort=${penalties.layout_query.tabular.sort.join(',')}&limit=-1`, { token });
    expect(listed.status, listed.text).toBe(200);
    const numbers = (listed.json.data as { entry: { race_number: number } }[]).map((p) => p.entry.race_number);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  });

  it('keeps an admin’s layout; a deleted collection default comes back with the next setup', async () => {
    const [results] = await defaults('stage_results');
    const mine = { ...results.layout_query, tabular: { ...results.layout_query.tabular, fields: ['rank', 'entry', 'total_ms'] } };
    expect((await call(stack, `/presets/${results.id}`, { token, method: 'PATCH', body: { layout_query: mine } })).status).toBe(200);
    expect(await runSetupAgain(stack)).toEqual([]);
    expect((await defaults('stage_results')).map((p) => p.layout_query)).toEqual([mine]);

    const [crossings] = await defaults('entry_crossings');
    expect((await call(stack, `/presets/${crossings.id}`, { token, method: 'DELETE' })).status).toBe(204);
    expect(await runSetupAgain(stack)).toEqual(['lay out entry_crossings for timekeepers']);
    expect(await defaults('entry_crossings')).toHaveLength(1);
    await call(stack, `/presets/${results.id}`, { token, method: 'PATCH', body: { layout_query: results.layout_query } });
  });
});
