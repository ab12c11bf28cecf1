import { describe, expect, it } from 'vitest';
import { healthErrors, healthReport, sharedProbe } from '../../../src/observability/metrics-server.ts';
import { healthReasons, type ProcessorObservation } from '../../../src/processor/health.ts';

const healthy: ProcessorObservation = { redis: true, postgres: true, lag: 0, pending: 0, sinceProgressMs: 500, parked: 0 };
const stallMs = 10_000;

describe('healthReasons', () => {
  it('finds nothing wrong with connected stores, a consumer keeping up and no parked rows', () => {
    expect(healthReasons(healthy, { stallMs })).toEqual([]);
  });

  it('names each unreachable store', () => {
    expect(healthReasons({ ...healthy, postgres: false }, { stallMs })).toEqual(['postgres-unreachable']);
    expect(healthReasons({ ...healthy, redis: false, lag: null, pending: null }, { stallMs })).toEqual(['redis-unreachable']);
  });

  it('calls a consumer stalled when entries wait (lag or pending) and it made no progress for longer than the stall time', () => {
    expect(healthReasons({ ...healthy, lag: 5, sinceProgressMs: 10_001 }, { stallMs })).toEqual(['consumer-stalled']);
    expect(healthReasons({ ...healthy, pending: 1, sinceProgressMs: 60_000 }, { stallMs })).toEqual(['consumer-stalled']);
  });

  it('does not call a consumer stalled within the stall time, nor when nothing waits however long it was idle', () => {
    expect(healthReasons({ ...healthy, lag: 5000, pending: 2000, sinceProgressMs: 10_000 }, { stallMs })).toEqual([]);
    expect(healthReasons({ ...healthy, sinceProgressMs: 3_600_000 }, { stallMs })).toEqual([]);
    // Redis cannot tell the lag (too far behind to count, a trimmed stream): entries may wait, and a consumer that
    // finds nothing new makes progress all the same, so no progress for the stall time is a stall.
    expect(healthReasons({ ...healthy, lag: null, pending: 0, sinceProgressMs: 10_000 }, { stallMs })).toEqual([]);
    expect(healthReasons({ ...healthy, lag: null, pending: 0, sinceProgressMs: 3_600_000 }, { stallMs })).toEqual(['consumer-stalled']);
    expect(healthReasons({ ...healthy, lag: null, pending: 3, sinceProgressMs: 3_600_000 }, { stallMs })).toEqual(['consumer-stalled']);
  });

  it('reports parked outbox rows, and not an outbox it could not read or that a positions-only processor lacks', () => {
    expect(healthReasons({ ...healthy, parked: 2 }, { stallMs })).toEqual(['outbox-parked']);
    expect(healthReasons({ ...healthy, parked: null }, { stallMs })).toEqual([]);
  });

  it('reports a shard count that differs from the running processors’: this one then takes no shard', () => {
    expect(healthReasons({ ...healthy, shardCountConflict: 16 }, { stallMs })).toEqual(['shard-count-conflict']);
    expect(healthReasons({ ...healthy, shardCountConflict: null }, { stallMs })).toEqual([]);
  });

  it('lists every reason at once, in a fixed order', () => {
    expect(healthReasons({ redis: false, postgres: false, lag: 1, pending: 1, sinceProgressMs: 20_000, parked: 1, shardCountConflict: 8 }, { stallMs })).toEqual([
      'postgres-unreachable', 'redis-unreachable', 'consumer-stalled', 'outbox-parked', 'shard-count-conflict',
    ]);
  });
});

describe('healthReport', () => {
  it('is ok exactly when there is no reason, and keeps what was seen', () => {
    expect(healthReport([], { lag: 0 })).toEqual({ ok: true, reasons: [], lag: 0 });
    expect(healthReport(['outbox-parked'], { parked: 3 })).toEqual({ ok: false, reasons: ['outbox-parked'], parked: 3 });
  });
});

describe('healthErrors', () => {
  it('names why each failing check failed, and gives nothing when none did', () => {
    expect(healthErrors({ redis: { ok: false, error: 'ECONNREFUSED' }, postgres: { ok: true, value: 1 }, files: 'EEXIST: file already exists' })).toEqual({
      errors: { redis: 'ECONNREFUSED', files: 'EEXIST: file already exists' },
    });
    expect(healthErrors({ redis: { ok: true, value: 'PONG' }, files: null })).toEqual({});
  });
});

describe('sharedProbe', () => {
  it('runs one check for callers that ask while it is under way, and a new one after', async () => {
    let checks = 0;
    const read = sharedProbe(async () => ++checks, 1000);
    expect(await Promise.all([read(), read(), read()])).toEqual([{ ok: true, value: 1 }, { ok: true, value: 1 }, { ok: true, value: 1 }]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await read()).toEqual({ ok: true, value: 2 });
  });
});
