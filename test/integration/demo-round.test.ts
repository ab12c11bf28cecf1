import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { openNewDemoRound } from '../../src/devstack/demo-stack.ts';

const stack = inject('stack');
const stageIds = [demoId('stage:ss1'), demoId('stage:ss2')];
const before = Date.parse('2026-01-05T10:00:00Z');

/**
 * `npm start` after `npm stop` starts the simulator's race again from now, with the same cars on the same stages:
 * the demo opens its stages again and clears the earlier round's timing, so the new round is timed.
 */
describe('a new round of the demo race', () => {
  let db: Knex;
  let windows: { id: string; opens_at: Date; closes_at: Date }[];
  let eventWindow: { starts_at: Date; ends_at: Date };

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    windows = await db('stages').whereIn('id', stageIds).select('id', 'opens_at', 'closes_at');
    eventWindow = await db('events').where({ id: demoId('event') }).first('starts_at', 'ends_at');
  });

  afterAll(async () => {
    // The other test files place their races from the demo stages' opening.
    for (const w of windows) await db('stages').where({ id: w.id }).update({ opens_at: w.opens_at, closes_at: w.closes_at });
    await db('events').where({ id: demoId('event') }).update(eventWindow);
    await db('positions').where({ device_id: demoEntries[0]!.imei, ts: new Date(before) }).delete();
    await db.destroy();
  });

  it('opens the stages at the round\'s start, clears their timing and keeps the positions', async () => {
    const [car] = demoEntries;
    await db('positions').insert({ device_id: car!.imei, ts: new Date(before), latitude: 31.4, longitude: -4.2, codec: '8', attributes: {} });
    await db('stage_results').insert({ id: randomUUID(), entry: car!.id, stage: stageIds[0], status: 'finished', penalty_ms: 0 });
    await db('anomalies').insert({ id: randomUUID(), device_id: car!.imei, kind: 'signal_loss', severity: 'warning', started_at: new Date(before), details: {} });

    const now = Date.parse('2026-01-06T09:00:00Z');
    await openNewDemoRound(db, now);

    for (const stage of await db('stages').whereIn('id', stageIds).select('opens_at', 'closes_at')) {
      // Not a minute before: the last seconds of a round stopped in the middle were timed as the new round's starts.
      expect(stage.opens_at.getTime()).toBe(now);
      expect(stage.closes_at.getTime()).toBe(now + 7 * 24 * 3_600_000);
    }
    const event = await db('events').where({ id: demoId('event') }).first('starts_at', 'ends_at');
    expect(event.starts_at.getTime()).toBe(now);
    expect(await db('stage_results').whereIn('stage', stageIds).count('* as n').first()).toEqual({ n: '0' });
    expect(await db('anomalies').where({ device_id: car!.imei }).count('* as n').first()).toEqual({ n: '0' });
    expect(await db('positions').where({ device_id: car!.imei, ts: new Date(before) }).count('* as n').first()).toEqual({ n: '1' });
  });
});
