import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type PenaltyFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { IntegerFieldsRefusedError } from '../../src/setup/integer-fields.ts';
import { runSetup } from '../../src/setup/setup.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { setupOptions } from '../support/stack.ts';

const stack = inject('stack');
const stage = demoId('stage:ss1');
const entry = demoEntries[5]!;
const t0 = Date.UTC(2026, 0, 10, 9, 30, 0, 0);
const msFields: [string, string][] = [
  ['stage_results', 'elapsed_ms'],
  ['stage_results', 'penalty_ms'],
  ['stage_results', 'total_ms'],
  ['entry_penalties', 'amount_ms'],
  ['waypoints', 'penalty_ms'],
];

const result: StageResultFact = {
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status: 'finished',
  startedAt: t0, finishedAt: t0 + 612_345, elapsedMs: 612_345, penaltyMs: 30_000, totalMs: 642_345,
};
const penalty: PenaltyFact = {
  type: 'penalty', key: factKey.penalty(entry.id, stage, 'speeding', 'sz1'), entryId: entry.id, stageId: stage, kind: 'speeding', amountMs: 30_000, details: {},
};

/** Times are JSON numbers (CONTRACTS section 3 names them; clients add and compare them). */
describe('millisecond fields', () => {
  let token: string;
  let db: Knex;
  const read = async (collection: string, id: string, fields: string) => (await call(stack, `/items/${collection}/${id}?fields=${fields}`, { token })).json.data;
  const typeOf = async (collection: string, field: string) => (await call(stack, `/fields/${collection}/${field}`, { token })).json.data;
  const makeBigInteger = async (collection: string, field: string) => {
    const res = await call(stack, `/fields/${collection}/${field}`, { token, method: 'PATCH', body: { type: 'bigInteger', schema: {} } });
    expect(res.status, res.text).toBe(200);
  };
  const setup = () => runSetup(db, setupOptions(stack));

  beforeAll(async () => {
    token = await adminToken(stack);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    const res = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `ms-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [result, penalty], retractions: [] } });
    expect(res.status, res.text).toBe(200);
  });

  afterAll(async () => {
    // Whatever happened above, the shared stack ends with integer fields again.
    await db('stage_results').where('total_ms', '>', 2_147_483_647).update({ total_ms: 1 }).catch(() => undefined);
    await setup().catch(() => undefined);
    // Taken back as the pipeline takes its facts back: people may not delete a computed penalty (they waive it).
    await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `ms-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [], retractions: [result.key, penalty.key] } });
    await db.destroy();
  });

  it('are 4-byte integer fields that the REST API answers as JSON numbers, with a note saying why', async () => {
    for (const [collection, field] of msFields) {
      const def = await typeOf(collection, field);
      expect(def.type, `${collection}.${field}`).toBe('integer');
      expect(def.meta.note, `${collection}.${field}`).toMatch(/Stored in milliseconds, a 4-byte integer so the API answers a JSON number\.$/);
    }
    expect(await read('stage_results', factId(result.key), 'elapsed_ms,penalty_ms,total_ms,rank')).toEqual({ elapsed_ms: 612_345, penalty_ms: 30_000, total_ms: 642_345, rank: expect.any(Number) });
    expect(await read('entry_penalties', factId(penalty.key), 'amount_ms')).toEqual({ amount_ms: 30_000 });
    expect(typeof (await read('waypoints', demoId('waypoint:ss1:1'), 'penalty_ms')).penalty_ms).toBe('number');
  });

  it('are migrated by setup in a database set up with bigInteger ones, values kept', async () => {
    for (const [collection, field] of msFields) await makeBigInteger(collection, field);
    // What an older Pitwall left: Directus answers these as strings.
    expect(await read('stage_results', factId(result.key), 'elapsed_ms')).toEqual({ elapsed_ms: '612345' });

    const done = await setup();
    expect(done).toEqual(expect.arrayContaining(msFields.map(([c, f]) => `change field ${c}.${f} from bigInteger to integer`)));
    for (const [collection, field] of msFields) expect((await typeOf(collection, field)).type).toBe('integer');
    const column = await db.raw(`SELECT data_type, is_nullable, column_default FROM information_schema.columns WHERE table_name = 'waypoints' AND column_name = 'penalty_ms'`);
    expect(column.rows[0]).toEqual({ data_type: 'integer', is_nullable: 'NO', column_default: '0' });
    expect(await read('stage_results', factId(result.key), 'elapsed_ms,penalty_ms,total_ms')).toEqual({ elapsed_ms: 612_345, penalty_ms: 30_000, total_ms: 642_345 });
    expect(await read('entry_penalties', factId(penalty.key), 'amount_ms')).toEqual({ amount_ms: 30_000 });
    expect((await setup()).filter((line) => line.startsWith('change field'))).toEqual([]);
  });

  it('stay bigInteger, and setup stops naming the field, when a stored value does not fit', async () => {
    await makeBigInteger('stage_results', 'total_ms');
    await makeBigInteger('entry_penalties', 'amount_ms');
    await db('stage_results').where({ id: factId(result.key) }).update({ total_ms: 3_000_000_000 });
    const refused = await setup().then(() => null, (error: unknown) => error);
    expect(refused).toBeInstanceOf(IntegerFieldsRefusedError);
    expect((refused as Error).message).toMatch(/nothing was changed: stage_results\.total_ms: 1 row\(s\) beyond ±2147483647 \(largest 3000000000\)/);
    // Nothing was changed: not even the field whose values fit.
    expect((await typeOf('entry_penalties', 'amount_ms')).type).toBe('bigInteger');
    expect(await read('stage_results', factId(result.key), 'total_ms')).toEqual({ total_ms: '3000000000' });

    await db('stage_results').where({ id: factId(result.key) }).update({ total_ms: 642_345 });
    expect(await setup()).toEqual(expect.arrayContaining(['change field stage_results.total_ms from bigInteger to integer', 'change field entry_penalties.amount_ms from bigInteger to integer']));
    expect(await read('stage_results', factId(result.key), 'total_ms')).toEqual({ total_ms: 642_345 });
  });
});
