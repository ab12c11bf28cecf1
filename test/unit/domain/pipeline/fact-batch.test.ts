import { describe, expect, it } from 'vitest';
import { factBatchSchema, isPgSnapshot } from '../../../../src/domain/pipeline/fact-batch.ts';

describe('isPgSnapshot', () => {
  it('takes what pg_current_snapshot() gives', () => {
    for (const text of ['1:1:', '748:748:', '740:752:741,745', '3:5:4,4', '18446744073709551615:18446744073709551615:']) expect(isPgSnapshot(text), text).toBe(true);
  });

  it('refuses what Postgres refuses as a pg_snapshot, and anything that is not one', () => {
    // Each checked against PostgreSQL 15's '…'::pg_snapshot: an error for every one.
    for (const text of ['0:0:', '5:3:', '3:5:6', '3:5:2', '3:5:4,3', '1:2', '1:2:3,', ':1:', 'a:b:', "1:2:'; DROP TABLE positions; --", ' 1:1:', '']) {
      expect(isPgSnapshot(text), text).toBe(false);
    }
  });

  it('is checked by the facts batch schema, naming the field', () => {
    const batch = { batch: 'b', source: 'replay', upserts: [], retractions: [] };
    expect(factBatchSchema.safeParse({ ...batch, snapshot: '740:752:741' }).success).toBe(true);
    const refused = factBatchSchema.safeParse({ ...batch, snapshot: '5:3:' });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.path).toEqual(['snapshot']);
  });
});

describe('factBatchSchema ids', () => {
  const crossing = (id: string) => ({
    type: 'crossing', key: 'k', entryId: id, stageId: id, gateId: id, deviceId: '350936080010011', kind: 'start', crossedAt: 1, speedKmh: 80,
  });
  const batch = (id: string) => ({ batch: 'b', source: 'live', upserts: [crossing(id)], retractions: [] });

  it('takes any id Directus stores, also one without an RFC version digit (imported from another system)', () => {
    expect(factBatchSchema.safeParse(batch('00000000-0000-0000-0000-000000000001')).success).toBe(true);
  });

  it('refuses what is no id, in zod\'s words', () => {
    const refused = factBatchSchema.safeParse(batch('entry-1'));
    expect(refused.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'upserts.0.entryId: Invalid UUID', 'upserts.0.stageId: Invalid UUID', 'upserts.0.gateId: Invalid UUID',
    ]);
  });
});
