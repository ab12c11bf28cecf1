import { describe, expect, it } from 'vitest';
import { backfillParamsSchema } from '../../../src/jobs/backfill/backfill-params.ts';
import { checkJobRequest } from '../../../src/jobs/default-window.ts';
import { replayParamsSchema } from '../../../src/jobs/replay/replay-params.ts';

const event = '0b6f4c1e-2d3a-4c5b-8e9f-1a2b3c4d5e6f';
const stage = '8f14e45f-ceea-467f-a9c5-0a1f2b3c4d5e';
const entry = '3c2b1a09-8765-4321-9abc-def012345678';

/** A knex stand-in holding one event, its stage (SS1) and one entry of it. */
const database = ((table: string) => ({
  whereIn: (_field: string, ids: string[]) => ({ select: async () => (table === 'entries' ? ids.filter((id) => id === entry).map((id) => ({ id, event })) : []) }),
  where: (_field: string, id: string) => ({
    first: async () =>
      table === 'stages' && id === stage ? { event, opens_at: new Date('2026-01-14T09:00:00Z'), closes_at: new Date('2026-01-14T12:00:00Z') }
      : table === 'events' && id === event ? { starts_at: new Date('2026-01-13T00:00:00Z'), ends_at: new Date('2026-01-16T00:00:00Z') }
      : undefined,
  }),
})) as never;

/**
 * The hook checks a run created through /items again, the endpoint's own runs included: their params, checked once,
 * must check again to the same (or the Idempotency-Key comparison of a request sent again would fail).
 */
describe('checking checked params again', () => {
  it('gives the same replay params', async () => {
    for (const body of [
      { stage: stage.toUpperCase(), mode: 'preview' },
      { event, mode: 'apply' },
      { event, stage, from: '2026-01-14T10:00:00+02:00', to: '2026-01-14T11:00:00Z', mode: 'preview' },
      { entries: [entry.toUpperCase()], from: '2026-01-14T10:00:00Z', to: '2026-01-14T11:00:00Z', mode: 'preview' },
    ]) {
      const once = await checkJobRequest('replay', body, database, replayParamsSchema);
      expect(once.issues, JSON.stringify(body)).toBeNull();
      expect(await checkJobRequest('replay', once.params, database, replayParamsSchema)).toEqual(once);
    }
  });

  it('fills a stage-only replay with its event and window, as the endpoint does', async () => {
    expect((await checkJobRequest('replay', { stage, mode: 'preview' }, database, replayParamsSchema)).params)
      .toEqual({ stage, event, from: '2026-01-14T09:00:00.000Z', to: '2026-01-14T12:00:00.000Z', mode: 'preview' });
  });

  it('gives the same backfill params', async () => {
    // A device_models table holding FMB920: what findDeviceModel asks of it.
    const model = { select: () => model, whereRaw: () => model, orWhere: () => model, first: async () => ({ id: 'm1', name: 'FMB920' }) };
    const models = Object.assign(() => model, { raw: () => 'id' }) as never;
    const once = await checkJobRequest('backfill', { model: ' FMB920 ', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }, models, backfillParamsSchema);
    expect(once).toEqual({ params: { model: 'FMB920', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }, issues: null });
    expect(await checkJobRequest('backfill', once.params, models, backfillParamsSchema)).toEqual(once);
  });
});
