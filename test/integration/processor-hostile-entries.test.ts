import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoImei } from '../../src/demo/demo-race.ts';
import type { Position } from '../../src/domain/position.ts';
import { PROCESSOR_GROUP } from '../../src/processor/config.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { toStreamFields } from '../../src/simulator/publish.ts';
import { groupInfo } from '../../src/stream/consumer-group.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * No entry can stop timing: hostile entries of one tracker, then ordinary fixes of another, through the real
 * processor with the demo's FMB920 mapping. Every ordinary fix is stored within seconds, the group drains, and each
 * hostile entry is either stored or dead-lettered with its reason and its original fields.
 */
const stack = inject('stack');
const hostile = demoImei(18);
const ordinary = demoImei(19);
const devices = [hostile, ordinary];
const SECOND = 1000;

const fields = (list: string[]): Record<string, string> => Object.fromEntries(Array.from({ length: list.length / 2 }, (_, i) => [list[2 * i]!, list[2 * i + 1]!]));

describe('hostile entries before ordinary fixes', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  const deadLetters = `${stream}:dead-letter`;
  const start = Date.now() - 10 * 60 * SECOND;
  let redis: Redis;
  let db: Knex;
  let processor: Processor | null = null;

  const fix = (deviceId: string, ts: number, overrides: Partial<Position> = {}): Position => ({
    deviceId, ts, latitude: 0.5, longitude: 0.5, altitude: 120, angle: 90, speed: 40, satellites: 9, priority: 0, attributes: { '239': 1, '66': 13650 }, codec: '8E', ...overrides,
  });
  /** The entry of a fix with its payload edited after encoding, as a broken tracker or ingestion would send it. */
  const edited = (base: Position, edit: (payload: Record<string, unknown>) => void): string[] => {
    const list = toStreamFields(base);
    const payload = JSON.parse(list[7]!) as Record<string, unknown>;
    edit(payload);
    list[7] = JSON.stringify(payload);
    return list;
  };
  const at = (seconds: number) => start + seconds * SECOND;
  const nulInside = Buffer.from('A\u0000B', 'latin1').toString('base64');
  /** An iButton id sent as a plain JSON number past 2^53, as an ingestion written in another language may send it. */
  const plainBigInteger = toStreamFields(fix(hostile, at(1.5), { attributes: { '78': 0 } }));
  plainBigInteger[7] = plainBigInteger[7]!.replace('"78":0', '"78":12345678901234567890');

  /** Each hostile entry with what must become of it: stored, or dead-lettered with a category and a reason. */
  const cases: { name: string; entry: string[]; stored?: { ts: number; decoded: Record<string, unknown>; raw?: Record<string, unknown> }; dead?: [string, RegExp] }[] = [
    { name: 'ascii 387 as the number 65', entry: toStreamFields(fix(hostile, at(1), { attributes: { '387': 65 } })), stored: { ts: at(1), decoded: { iso6709_coordinates: 'A' } } },
    {
      name: 'an 8-byte value as a plain number',
      entry: plainBigInteger,
      stored: { ts: at(1.5), decoded: { ibutton: 'ab54a98ceb1f0ad2' }, raw: { '78': { __bigint: '12345678901234567890' } } },
    },
    {
      name: 'ascii 387 with a NUL inside',
      entry: toStreamFields(fix(hostile, at(2), { attributes: { '387': { __buffer_b64: nulInside } } })),
      stored: { ts: at(2), decoded: { io_387: { __buffer_b64: nulInside }, io_387_error: expect.stringContaining('NUL') } },
    },
    { name: 'altitude 1e39', entry: edited(fix(hostile, at(3)), (p) => (p.altitude = 1e39)), dead: ['malformed', /^payload\.altitude: expected metres within -32768\.\.65535/] },
    { name: 'year 0000', entry: edited(fix(hostile, at(4)), (p) => (p.timestamp = '0000-01-01T00:00:00.000Z')), dead: ['malformed', /^payload\.timestamp: outside the times a fix can have/] },
    { name: 'year 1970', entry: edited(fix(hostile, at(5)), (p) => (p.timestamp = '1970-01-01T00:00:00.000Z')), dead: ['malformed', /^payload\.timestamp: outside the times a fix can have/] },
    { name: 'a fix one day in the future', entry: toStreamFields(fix(hostile, Date.now() + 24 * 3600 * SECOND)), dead: ['future', /^payload\.timestamp: .* ms ahead of the processor's clock .*MAX_FUTURE_SKEW_MS \(300000\)$/] },
    // Five megabytes of bytes in one IO element: reading it used to throw (out of stack), so its batch failed on every
    // retry and nothing behind it was stored.
    {
      name: 'a byte array of 5 MB',
      entry: toStreamFields(fix(hostile, at(6), { attributes: { '78': { __buffer_b64: Buffer.alloc(5_000_000, 1).toString('base64') } } })),
      dead: ['malformed', /^payload: larger than 1,048,576 characters/],
    },
    {
      name: 'a byte array over 65,535 bytes',
      entry: toStreamFields(fix(hostile, at(6.5), { attributes: { '78': { __buffer_b64: Buffer.alloc(65_536, 1).toString('base64') } } })),
      dead: ['malformed', /^payload\.attributes\.78\.__buffer_b64: expected base64 of at most 65,535 bytes$/],
    },
    { name: 'a broken JSON payload', entry: ['ts', new Date(at(7)).toISOString(), 'device_id', hostile, 'codec', '8E', 'payload', '{"device_id":"' + hostile + '",'], dead: ['malformed', /^payload: not JSON/] },
    // Rows the parser and decoder pass but the database refuses (a constraint stands in for any such refusal):
    // the position alone, and the decoded attributes alone.
    { name: 'a position the database refuses', entry: toStreamFields(fix(hostile, at(8), { altitude: 4321 })), dead: ['database', /^database refused the entry: .*test_refuses_altitude_4321.* \[SQLSTATE 23514\]$/] },
    { name: 'decoded attributes the database refuses', entry: toStreamFields(fix(hostile, at(9))), stored: { ts: at(9), decoded: {} }, dead: ['database', /^database refused its decoded attributes \(the position is stored\): .*test_refuses_decoded.* \[SQLSTATE 23514\]$/] },
  ];
  const ordinaryFixes = Array.from({ length: 30 }, (_, i) => fix(ordinary, at(i + 1)));

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    await db.raw(`ALTER TABLE positions ADD CONSTRAINT test_refuses_altitude_4321 CHECK (NOT (device_id = '${hostile}' AND altitude = 4321))`);
    await db.raw(`ALTER TABLE decoded_attributes ADD CONSTRAINT test_refuses_decoded CHECK (NOT (device_id = '${hostile}' AND ts = '${new Date(at(9)).toISOString()}'))`);
  });

  afterAll(async () => {
    await processor?.close();
    await redis.del(stream, deadLetters);
    redis.disconnect();
    await db.raw('ALTER TABLE positions DROP CONSTRAINT IF EXISTS test_refuses_altitude_4321');
    await db.raw('ALTER TABLE decoded_attributes DROP CONSTRAINT IF EXISTS test_refuses_decoded');
    await db('positions').whereIn('device_id', devices).delete();
    await db('decoded_attributes').whereIn('device_id', devices).delete();
    await db.destroy();
  });

  it('stores the ordinary fixes within seconds, drains the group, and stores or dead-letters each hostile entry', async () => {
    // Hostile entries and the first ordinary fixes in the stream before the processor starts, so they share batches.
    for (const { entry } of cases) await redis.xadd(stream, '*', ...entry);
    for (const f of ordinaryFixes.slice(0, 20)) await redis.xadd(stream, '*', ...toStreamFields(f));
    const started = performance.now();
    processor = await startRacingProcessor(stack, stream, { PROCESSOR_BLOCK_MS: '200', MAX_FUTURE_SKEW_MS: '300000' });
    const count = async (deviceId: string) => Number((await db('positions').where({ device_id: deviceId }).count<{ count: string }[]>('* as count'))[0]!.count);
    await waitFor(async () => (await count(ordinary)) === 20, { timeoutMs: 10_000, what: 'the ordinary fixes queued behind the hostile entries' });
    // The stream is not stuck: fixes arriving now are stored within seconds too.
    const live = performance.now();
    for (const f of ordinaryFixes.slice(20)) await redis.xadd(stream, '*', ...toStreamFields(f));
    await waitFor(async () => (await count(ordinary)) === ordinaryFixes.length, { timeoutMs: 5_000, what: 'the ordinary fixes sent while running' });
    expect(performance.now() - live).toBeLessThan(5_000);
    expect(performance.now() - started).toBeLessThan(15_000);
    await waitFor(async () => {
      const info = await groupInfo(redis, stream, PROCESSOR_GROUP);
      return info?.pending === 0 && info.lag === 0;
    }, { timeoutMs: 10_000, what: 'the group drained' });
    expect(await count(ordinary)).toBe(ordinaryFixes.length);

    const letters = (await redis.xrange(deadLetters, '-', '+')).map(([, flat]) => fields(flat));
    for (const { name, entry, stored, dead } of cases) {
      const sent = fields(entry);
      const letter = letters.find((l) => l.original_payload === sent.payload && l.original_ts === sent.ts);
      if (dead) {
        expect(letter, name).toBeDefined();
        expect(letter!.category, name).toBe(dead[0]);
        expect(letter!.reason, name).toMatch(dead[1]);
        expect(letter!.source_id, name).toMatch(/^\d+-\d+$/);
        // The original fields, for an operator to fix and re-inject.
        expect(Object.fromEntries(Object.entries(letter!).filter(([k]) => k.startsWith('original_')).map(([k, v]) => [k.slice('original_'.length), v])), name).toEqual(sent);
      } else {
        expect(letter, name).toBeUndefined();
      }
      if (stored) {
        const row = await db('positions').where({ device_id: hostile, ts: new Date(stored.ts) }).first();
        expect(row, name).toBeDefined();
        if (stored.raw) expect(row.attributes, name).toEqual(stored.raw);
        const decoded = await db('decoded_attributes').where({ device_id: hostile, ts: new Date(stored.ts) }).first();
        if (dead) expect(decoded, name).toBeUndefined();
        else expect(decoded?.attributes, name).toEqual(stored.decoded);
      }
    }
    expect(letters).toHaveLength(cases.filter((c) => c.dead).length);
    // Only what was meant to be stored is: 4 of the hostile tracker's entries.
    expect(await count(hostile)).toBe(cases.filter((c) => c.stored).length);

    const metrics = await processor.registry.getSingleMetricAsString('pitwall_dead_letters_total');
    expect(metrics).toContain('pitwall_dead_letters_total{reason="malformed"} 6');
    expect(metrics).toContain('pitwall_dead_letters_total{reason="future"} 1');
    expect(metrics).toContain('pitwall_dead_letters_total{reason="database"} 2');
    expect(metrics).toContain('pitwall_dead_letters_total{reason="trimmed"} 0');
  });
});
