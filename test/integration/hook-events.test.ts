import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { catalogue } from '../../src/domain/events/catalogue.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type CrossingFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call, importFile } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const model = demoId('model:FMB920');
const stage = demoId('stage:ss2');
const e6 = demoEntries[5]!;
const t0 = Date.UTC(2026, 0, 12, 8, 0, 0, 500);
const cross = (gate: string, kind: 'start' | 'finish', at: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(e6.id, gate, at), entryId: e6.id, stageId: stage, gateId: gate, deviceId: e6.imei, kind, crossedAt: at, speedKmh: 80,
});
const start = cross(demoId('geofence:ss2:start'), 'start', t0);
const finish = cross(demoId('geofence:ss2:finish'), 'finish', t0 + 100_000);
const result: StageResultFact = {
  type: 'stage_result', key: factKey.stageResult(e6.id, stage), entryId: e6.id, stageId: stage, status: 'finished', startedAt: t0, finishedAt: t0 + 100_000, elapsedMs: 100_000, penaltyMs: 0, totalMs: 100_000,
};

describe('pitwall hook: io_mapping.changed and hand corrections', () => {
  let token: string;
  const created: string[] = [];
  const ioId = 9000 + Math.floor(Math.random() * 900);
  const ioEvents = async () =>
    ((await call(stack, `/items/race_events?filter[type][_eq]=io_mapping.changed&sort=-occurred_at&limit=50`, { token })).json.data as any[]).filter(
      (e) => e.payload.model === model && e.payload.io_ids.includes(ioId),
    );

  beforeAll(async () => {
    token = await adminToken(stack);
  });

  afterAll(async () => {
    const ids = [...(await ioEvents()).map((e) => e.id), ...((await call(stack, `/items/race_events?filter[entry][_eq]=${e6.id}&limit=-1&fields=id`, { token })).json.data as any[]).map((e) => e.id)];
    if (ids.length > 0) await call(stack, '/items/race_events', { token, method: 'DELETE', body: ids });
    for (const id of created) await call(stack, `/items/io_mappings/${id}`, { token, method: 'DELETE' });
    await call(stack, '/items/entry_crossings', { token, method: 'DELETE', body: [start.key, finish.key].map(factId) });
    await call(stack, '/items/stage_results', { token, method: 'DELETE', body: [factId(result.key)] });
  });

  it('emits io_mapping.changed (source system) when an io_mappings row is created, updated and deleted', async () => {
    const res = await call(stack, '/items/io_mappings', { token, body: { model, io_id: ioId, attribute: `test_${randomBytes(3).toString('hex')}`, value_type: 'unsigned', byte_size: 1 } });
    expect(res.status, res.text).toBe(200);
    const id = res.json.data.id;
    created.push(id);
    await waitFor(async () => (await ioEvents()).length === 1, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after create' });
    const [event] = await ioEvents();
    expect(event).toMatchObject({ type: 'io_mapping.changed', version: 1, source: 'system', event: null, entry: null, payload: { model, io_ids: [ioId] } });
    expect(() => catalogue['io_mapping.changed'].payload.parse(event.payload)).not.toThrow();

    expect((await call(stack, `/items/io_mappings/${id}`, { token, method: 'PATCH', body: { multiplier: 0.5 } })).status).toBe(200);
    await waitFor(async () => (await ioEvents()).length === 2, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after update' });
    expect((await call(stack, `/items/io_mappings/${id}`, { token, method: 'DELETE' })).status).toBe(204);
    created.pop();
    await waitFor(async () => (await ioEvents()).length === 3, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after delete' });
  });

  it('emits one io_mapping.changed per model for the rows of one request (an import), not one per row', async () => {
    const ioIds = [ioId + 1000, ioId + 1001, ioId + 1002];
    const rows = ioIds.map((io_id) => ({ model, io_id, attribute: `bulk_${randomBytes(3).toString('hex')}`, value_type: 'unsigned', byte_size: 1 }));
    const bulkEvents = async () =>
      ((await call(stack, `/items/race_events?filter[type][_eq]=io_mapping.changed&sort=-occurred_at&limit=50`, { token })).json.data as any[]).filter(
        (e) => e.payload.model === model && ioIds.some((id) => e.payload.io_ids.includes(id)),
      );
    const res = await call(stack, '/items/io_mappings', { token, body: rows });
    expect(res.status, res.text).toBe(200);
    const ids = (res.json.data as { id: string }[]).map((r) => r.id);
    created.push(...ids);
    await waitFor(async () => (await bulkEvents()).length > 0, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after the import' });
    // A moment for any event of a row handled alone to show.
    await new Promise((r) => setTimeout(r, 1000));
    const events = await bulkEvents();
    expect(events).toHaveLength(1);
    expect(events[0].payload).toEqual({ model, io_ids: ioIds });

    expect((await call(stack, '/items/io_mappings', { token, method: 'DELETE', body: ids })).status).toBe(204);
    created.splice(created.length - ids.length, ids.length);
    await waitFor(async () => (await bulkEvents()).length === 2, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after deleting the import' });
    expect((await bulkEvents())[0]!.payload).toEqual({ model, io_ids: ioIds });
    await call(stack, '/items/race_events', { token, method: 'DELETE', body: (await bulkEvents()).map((e) => e.id) });
  });

  it('announces each CSV import of IO mappings, and a PATCH of a list of them, once, after the request commits', async () => {
    // Directus emits an import's actions, and a list PATCH's (one row at a time), before the request commits.
    const imports = [0, 1, 2].map((n) => [ioId + 3000 + 2 * n, ioId + 3001 + 2 * n]);
    const all = imports.flat();
    const eventsOf = async (ioIds: number[]) =>
      ((await call(stack, `/items/race_events?filter[type][_eq]=io_mapping.changed&sort=-occurred_at&limit=100`, { token })).json.data as any[]).filter(
        (e) => e.payload.model === model && ioIds.some((id) => e.payload.io_ids.includes(id)),
      );
    for (const ioIds of imports) {
      const csv = ['model,io_id,attribute,value_type,byte_size', ...ioIds.map((id) => `${model},${id},csv_${id},unsigned,1`)].join('\n');
      const res = await importFile(stack, 'io_mappings', { text: csv, type: 'text/csv' }, token);
      expect(res.status, res.text).toBe(200);
      await waitFor(async () => (await eventsOf(ioIds)).length > 0, { timeoutMs: 10_000, intervalMs: 200, what: `io_mapping.changed after importing ${ioIds}` });
    }
    const stored = (await call(stack, `/items/io_mappings?filter[io_id][_in]=${all.join(',')}&fields=id,io_id&limit=-1`, { token })).json.data as { id: string; io_id: number }[];
    created.push(...stored.map((r) => r.id));
    expect(stored).toHaveLength(all.length);

    const patched = await call(stack, '/items/io_mappings', { token, method: 'PATCH', body: stored.map((r) => ({ id: r.id, multiplier: 0.1 })) });
    expect(patched.status, patched.text).toBe(200);
    await waitFor(async () => (await eventsOf(all)).length > imports.length, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after the list PATCH' });
    // A moment for any event of a row handled alone to show.
    await new Promise((r) => setTimeout(r, 1000));
    const events = await eventsOf(all);
    expect(events.map((e) => [...e.payload.io_ids].sort()).sort()).toEqual([...imports, [...all].sort()].sort());

    expect((await call(stack, '/items/io_mappings', { token, method: 'DELETE', body: stored.map((r) => r.id) })).status).toBe(204);
    created.splice(created.length - stored.length, stored.length);
    await waitFor(async () => (await eventsOf(all)).length === imports.length + 2, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after the delete' });
    await call(stack, '/items/race_events', { token, method: 'DELETE', body: (await eventsOf(all)).map((e) => e.id) });
  });

  it('refuses an IO mapping the decoder cannot use with a 400 naming the field, for a create, an import and an update', async () => {
    const row = (changes: Record<string, unknown>) => ({ model, io_id: ioId + 2000, attribute: `guard_${randomBytes(3).toString('hex')}`, value_type: 'unsigned', byte_size: 2, ...changes });
    const refusals: [Record<string, unknown>, string][] = [
      [{ value_type: 'bogus' }, 'value_type: valueType "bogus" is not one of unsigned, signed, boolean, hex, ascii'],
      [{ byte_size: 0 }, 'byte_size: byteSize must be an integer in 1..255, got 0'],
      [{ multiplier: 'lots' }, 'multiplier: multiplier must be a finite number, got NaN'],
      [{ invalid_values: { 850: true } }, 'invalid_values: invalidValues must be a list of raw values, got {"850":true}'],
      [{ invalid_values: [-1] }, 'invalid_values: invalidValues entry -1 is not a raw value: write a non-negative safe integer, or a decimal string for 64-bit values'],
      [{ attribute: ' ' }, 'attribute: attribute must name the value: an empty name is no key a reader can ask for'],
      [{ attribute: 'io_11' }, 'attribute: attribute "io_11" is a name the decoder gives elements without a mapping (io_<id>) and their errors: give it a name of its own'],
      [{ io_id: -3 }, 'io_id: ioId must be an IO id of the wire, 0 to 65535, got -3'],
      // Kept as jsonb with the mapping's revision: such a text stopped every reload of the race setup.
      [{ value_type: 'ascii', invalid_values: ['\u0000'] }, 'invalid_values: invalidValues entry "\\u0000" has a NUL character at position 0, which Postgres cannot store as text'],
      [{ unit: 'm\udc00' }, 'unit: unit "m\\udc00" has a lone UTF-16 surrogate at position 1, which Postgres cannot store as text'],
      // numeric(24,12): Postgres's out-of-range error named another field.
      [{ multiplier: 1e13 }, 'multiplier: expected a decimal number with at most 12 digits before the decimal point, not 10000000000000'],
      [{ multiplier: 1e-13 }, 'multiplier: expected a decimal number with at most 12 digits after the decimal point (more would be rounded away), not 1e-13'],
    ];
    for (const [changes, reason] of refusals) {
      const answer = await call(stack, '/items/io_mappings', { token, body: row(changes) });
      expect(answer.status, reason).toBe(400);
      expect(answer.json.errors[0].extensions.reason, reason).toBe(reason);
      expect(answer.json.errors[0].extensions.issues[0].path, reason).toEqual([reason.split(':')[0]]);
    }
    // One bad row refuses the whole import: nothing is written, nothing announced.
    const mixed = await call(stack, '/items/io_mappings', { token, body: [row({ io_id: ioId + 2001 }), row({ io_id: ioId + 2002, value_type: 'bogus' })] });
    expect(mixed.status).toBe(400);
    const stored = await call(stack, `/items/io_mappings?filter[io_id][_in]=${ioId + 2000},${ioId + 2001},${ioId + 2002}&fields=id`, { token });
    expect(stored.json.data).toEqual([]);

    const good = await call(stack, '/items/io_mappings', { token, body: row({ invalid_values: [65535] }) });
    expect(good.status, good.text).toBe(200);
    created.push(good.json.data.id);
    const update = await call(stack, `/items/io_mappings/${good.json.data.id}`, { token, method: 'PATCH', body: { byte_size: 300 } });
    expect(update.status).toBe(400);
    expect(update.json.errors[0].extensions.reason).toBe('byte_size: byteSize must be an integer in 1..255, got 300');
    // An update is checked as the row it makes: 65535 stays a raw value of the row, whatever the payload leaves out.
    expect((await call(stack, `/items/io_mappings/${good.json.data.id}`, { token, method: 'PATCH', body: { value_type: 'signed' } })).status).toBe(200);
    // A name another IO element of the model has: one of the two values would be dropped from every fix.
    const [other] = (await call(stack, `/items/io_mappings?filter[model][_eq]=${model}&filter[io_id][_neq]=${ioId + 2000}&fields=io_id,attribute&limit=1`, { token })).json.data;
    const clash = `attribute: attribute ${JSON.stringify(other.attribute)} already names IO ${other.io_id} of this model: each IO element needs a name of its own, or the decoded attributes keep only one of the two values`;
    const renamed = await call(stack, `/items/io_mappings/${good.json.data.id}`, { token, method: 'PATCH', body: { attribute: other.attribute } });
    expect(renamed.status, renamed.text).toBe(400);
    expect(renamed.json.errors[0].extensions.reason).toBe(clash);
    const twin = await call(stack, '/items/io_mappings', { token, body: row({ io_id: ioId + 2001, attribute: other.attribute }) });
    expect(twin.json.errors[0].extensions.reason).toBe(clash);
    // Two rows of one list under one name (the check reads the request's own transaction), and an io_id that is no
    // IO id (Directus's 400, where the check's query made Postgres's 500).
    const pair = await call(stack, '/items/io_mappings', { token, body: [row({ io_id: ioId + 2001, attribute: 'pair_x' }), row({ io_id: ioId + 2002, attribute: 'pair_x' })] });
    expect(pair.status, pair.text).toBe(400);
    expect(pair.json.errors[0].extensions.reason).toMatch(/^attribute: attribute "pair_x" already names IO \d+ of this model/);
    for (const ioIdValue of ['abc', 1.5, 99_999_999_999]) {
      const bad = await call(stack, '/items/io_mappings', { token, body: row({ io_id: ioIdValue, attribute: 'odd_id' }) });
      expect(bad.status, `${ioIdValue} ${bad.text}`).toBe(400);
    }
    // Its own name again is no clash.
    const same = (await call(stack, `/items/io_mappings/${good.json.data.id}?fields=attribute`, { token })).json.data.attribute;
    expect((await call(stack, `/items/io_mappings/${good.json.data.id}`, { token, method: 'PATCH', body: { attribute: same } })).status).toBe(200);
    // The processor may not write IO mappings: Directus's 403, not the guard's 400.
    expect((await call(stack, '/items/io_mappings', { token: stack.processorToken, body: row({ value_type: 'bogus' }) })).status).toBe(403);
    const events = ((await call(stack, `/items/race_events?filter[type][_eq]=io_mapping.changed&limit=-1`, { token })).json.data as any[]).filter((e) =>
      e.payload.io_ids.some((id: number) => [ioId + 2000, ioId + 2001, ioId + 2002].includes(id)),
    );
    await call(stack, '/items/race_events', { token, method: 'DELETE', body: events.map((e) => e.id) });
  });

  it('ranks the stage again and announces it when an entry with a result is deleted', async () => {
    // A tester deleted the stage's leader: its results went with it, the others kept ranks 2, 3, … and no event said
    // otherwise, until the next change in the stage.
    const entries: { id: string }[] = [];
    for (const n of [1, 2]) {
      const made = await call(stack, '/items/entries', { token, body: { event: demoId('event'), race_number: 9900 + n, name: `Deleted test ${n}` } });
      expect(made.status, made.text).toBe(200);
      entries.push(made.json.data);
    }
    const [leader, second] = entries as [{ id: string }, { id: string }];
    const finished = (entryId: string, totalMs: number): StageResultFact => ({
      type: 'stage_result', key: factKey.stageResult(entryId, stage), entryId, stageId: stage, status: 'finished', startedAt: t0, finishedAt: t0 + totalMs, elapsedMs: totalMs, penaltyMs: 0, totalMs,
    });
    try {
      const res = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: 'entry-delete-test', source: 'live', upserts: [finished(leader.id, 1_000), finished(second.id, 2_000)], retractions: [] } });
      expect(res.status, res.text).toBe(200);
      const rankOf = async (entry: string) => (await call(stack, `/items/stage_results?filter[entry][_eq]=${entry}&filter[stage][_eq]=${stage}&fields=rank`, { token })).json.data[0]?.rank;
      const before = await rankOf(second.id);
      expect(before).toBe((await rankOf(leader.id)) + 1);

      expect((await call(stack, `/items/entries/${leader.id}`, { token, method: 'DELETE' })).status).toBe(204);
      entries.shift();
      await waitFor(async () => (await rankOf(second.id)) === before - 1, { timeoutMs: 10_000, intervalMs: 200, what: 'the stage ranked again' });
      const announced = async () => (await call(stack, `/items/race_events?filter[entry][_eq]=${second.id}&filter[source][_eq]=system&filter[type][_eq]=stage.result.computed&limit=-1`, { token })).json.data as any[];
      await waitFor(async () => (await announced()).length === 1, { timeoutMs: 10_000, intervalMs: 200, what: 'the new rank announced' });
      expect((await announced())[0].payload).toMatchObject({ entry: second.id, stage, rank: before - 1 });
    } finally {
      for (const { id } of entries) await call(stack, `/items/entries/${id}`, { token, method: 'DELETE' });
      const events = ((await call(stack, `/items/race_events?filter[entry][_eq]=${second.id}&limit=-1&fields=id`, { token })).json.data as any[]).map((e) => e.id);
      if (events.length > 0) await call(stack, '/items/race_events', { token, method: 'DELETE', body: events });
    }
  });

  it('re-times the result and emits stage.result.computed when a timekeeper corrects a finish crossing', async () => {
    const res = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: 'hook-test', source: 'live', upserts: [start, finish, result], retractions: [] } });
    expect(res.status, res.text).toBe(200);
    // The route's own writes are not hand corrections: no system event.
    await new Promise((r) => setTimeout(r, 500));
    const systemEventsOf = async (type: string) =>
      ((await call(stack, `/items/race_events?filter[entry][_eq]=${e6.id}&filter[source][_eq]=system&filter[type][_eq]=${type}&limit=-1`, { token })).json.data as any[]);
    const systemEvents = () => systemEventsOf('stage.result.computed');
    expect(await call(stack, `/items/race_events?filter[entry][_eq]=${e6.id}&filter[source][_eq]=system&limit=-1`, { token }).then((r) => r.json.data)).toEqual([]);

    const corrected = await call(stack, `/items/entry_crossings/${factId(finish.key)}`, { token, method: 'PATCH', body: { crossed_at: new Date(t0 + 105_000).toISOString() } });
    expect(corrected.status, corrected.text).toBe(200);
    await waitFor(async () => {
      const row = (await call(stack, `/items/stage_results/${factId(result.key)}?fields=elapsed_ms,total_ms,finished_at`, { token })).json.data;
      return row.elapsed_ms === 105_000 && row.total_ms === 105_000;
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'the corrected result' });
    await waitFor(async () => (await systemEvents()).length === 1, { timeoutMs: 10_000, intervalMs: 200, what: 'stage.result.computed from the hook' });
    const [event] = await systemEvents();
    expect(event.type).toBe('stage.result.computed');
    expect(event.payload).toMatchObject({ entry: e6.id, stage, status: 'finished', elapsed_ms: 105_000, total_ms: 105_000, finished_at: new Date(t0 + 105_000).toISOString() });
    expect(() => catalogue['stage.result.computed'].payload.parse(event.payload)).not.toThrow();

    // Corrected back, then once more as the first time: each correction is announced, the last one too.
    for (const [n, finishAt] of [[2, t0 + 100_000], [3, t0 + 105_000]] as const) {
      const again = await call(stack, `/items/entry_crossings/${factId(finish.key)}`, { token, method: 'PATCH', body: { crossed_at: new Date(finishAt).toISOString() } });
      expect(again.status, again.text).toBe(200);
      await waitFor(async () => (await systemEvents()).length === n, { timeoutMs: 10_000, intervalMs: 200, what: `correction ${n} announced` });
    }
    expect((await systemEvents()).map((e) => e.payload.elapsed_ms).sort()).toEqual([100_000, 105_000, 105_000]);

    // A timekeeper's file import of the same correction is re-timed too, although Directus announces it before it commits.
    const imported = await importFile(stack, 'entry_crossings', { text: `id,crossed_at\n${factId(finish.key)},${new Date(t0 + 110_000).toISOString()}`, type: 'text/csv' }, token);
    expect(imported.status, imported.text).toBe(200);
    await waitFor(async () => (await systemEvents()).length === 4, { timeoutMs: 10_000, intervalMs: 200, what: 'the imported correction announced' });
    const row = (await call(stack, `/items/stage_results/${factId(result.key)}?fields=elapsed_ms,total_ms`, { token })).json.data;
    expect(row).toEqual({ elapsed_ms: 110_000, total_ms: 110_000 });
    expect((await systemEvents()).map((e) => e.payload.elapsed_ms).sort()).toEqual([100_000, 105_000, 105_000, 110_000]);
    // And each correction of the crossing itself, as it then stood, for integrators who show crossing times.
    await waitFor(async () => (await systemEventsOf('timing.crossing.recorded')).length === 4, { timeoutMs: 10_000, intervalMs: 200, what: 'the corrected crossings announced' });
    const crossings = await systemEventsOf('timing.crossing.recorded');
    expect(crossings.map((e) => Date.parse(e.payload.crossed_at) - t0).sort()).toEqual([100_000, 105_000, 105_000, 110_000]);
    expect(crossings.every((e) => e.payload.crossing === factId(finish.key) && e.payload.kind === 'finish')).toBe(true);
    for (const e of crossings) expect(() => catalogue['timing.crossing.recorded'].payload.parse(e.payload)).not.toThrow();
  });
});
