import { describe, expect, it } from 'vitest';
import { healthView } from '../../../extensions/pitwall/src/pitwall-health-panel/health-view.ts';
import { summarizeStatus, type StatusRow } from '../../../extensions/pitwall/src/shared/processor-status.ts';

const checkedAt = '2026-11-28T14:10:00.000Z';
const row = (instance: string, ageSeconds: number, extra: Partial<StatusRow> = {}): StatusRow => ({
  instance,
  started_at: '2026-11-28T08:00:00.000Z',
  updated_at: new Date(Date.parse(checkedAt) - ageSeconds * 1000).toISOString(),
  age_seconds: ageSeconds,
  healthy: true,
  reasons: [],
  positions_stored_total: 120_000,
  positions_per_minute: 1_200,
  lag: 0,
  pending: 10,
  oldest_pending_seconds: 0.4,
  outbox_pending: 1,
  outbox_parked: 0,
  dead_letters_total: 3,
  dead_letters_per_minute: 0,
  ...extra,
});

describe('GET /pitwall/status summary', () => {
  it('adds up rates and dead letters over the reporting instances; takes the largest lag and outbox (they are shared)', () => {
    const view = summarizeStatus([row('a', 2), row('b', 4, { lag: 50, outbox_pending: 3, dead_letters_total: 1, positions_per_minute: 600 })], checkedAt);
    expect(view.summary).toMatchObject({ state: 'ok', reasons: [], positions_per_minute: 1_800, lag: 50, outbox_pending: 3, dead_letters_total: 4, silent_since: null });
  });

  it('is unhealthy with the reasons an instance reports', () => {
    const view = summarizeStatus([row('a', 2, { healthy: false, reasons: ['outbox-parked'], outbox_parked: 2 })], checkedAt);
    expect(view.summary).toMatchObject({ state: 'unhealthy', reasons: ['outbox-parked'], outbox_parked: 2 });
  });

  it('calls a processor silent once its row stops moving, and says since when', () => {
    const view = summarizeStatus([row('a', 95)], checkedAt);
    expect(view.summary).toMatchObject({ state: 'silent', reasons: ['processor-silent'], positions_per_minute: null, silent_since: '2026-11-28T14:08:25.000Z' });
    expect(view.processors[0]!.silent).toBe(true);
  });

  it('is unhealthy when one of several instances went silent; forgets instances silent for over an hour', () => {
    const view = summarizeStatus([row('a', 3), row('b', 120), row('old', 90_000)], checkedAt);
    expect(view.summary.state).toBe('unhealthy');
    expect(view.summary.reasons).toEqual(['processor-silent']);
    expect(view.processors.map((p) => p.instance)).toEqual(['a', 'b']);
    // Only the live instance's figures count.
    expect(view.summary.positions_per_minute).toBe(1_200);
  });

  it('keeps the last row when every instance is long gone, so the panel can say since when', () => {
    const view = summarizeStatus([row('old', 90_000)], checkedAt);
    expect(view.summary.state).toBe('silent');
    expect(view.processors).toHaveLength(1);
  });

  it('says none when no processor ever reported', () => {
    expect(summarizeStatus([], checkedAt).summary).toMatchObject({ state: 'none', positions_per_minute: null, dead_letters_total: null });
  });
});

describe('the health panel', () => {
  it('shows a healthy pipeline without warnings', () => {
    const view = healthView(summarizeStatus([row('a', 2)], checkedAt));
    expect(view.headline).toBe('Healthy · 1 processor · reported 2 s ago');
    expect(view.warn).toBe(false);
    expect(view.figures.map((f) => [f.key, f.value, f.warn])).toEqual([
      ['positions', '1,200', false],
      ['lag', '10', false],
      ['outbox', '0', false],
      ['dead-letters', '3', false],
    ]);
  });

  it('puts the figure that is the reason in the warning colour', () => {
    const stalled = healthView(summarizeStatus([row('a', 2, { healthy: false, reasons: ['consumer-stalled'], positions_per_minute: 0, lag: 5_000, oldest_pending_seconds: 130 })], checkedAt));
    expect(stalled.headline).toBe('Unhealthy: consumer stalled');
    expect(stalled.figures.filter((f) => f.warn).map((f) => f.key)).toEqual(['positions', 'lag']);

    const parked = healthView(summarizeStatus([row('a', 2, { healthy: false, reasons: ['outbox-parked'], outbox_parked: 4 })], checkedAt));
    expect(parked.figures.filter((f) => f.warn).map((f) => f.key)).toEqual(['outbox']);

    const dead = healthView(summarizeStatus([row('a', 2, { dead_letters_per_minute: 2 })], checkedAt));
    expect(dead.figures.filter((f) => f.warn).map((f) => f.key)).toEqual(['dead-letters']);
  });

  it('says results are delayed when a fact batch has waited for Directus over 30 s, with what Directus answers', () => {
    const error = `HTTP 500: {"errors":[{"message":"value \\"2147483662\\" is out of range for type integer","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}${' '.repeat(200)}`;
    const late = summarizeStatus([row('a', 2, { outbox_pending: 3 })], checkedAt, undefined, { pending: 8, oldestSeconds: 125, lastError: error });
    expect(late.summary).toMatchObject({ state: 'unhealthy', reasons: ['results-delayed'], outbox_pending: 8, outbox_oldest_seconds: 125, outbox_last_error: error });
    const view = healthView(late);
    expect(view.headline).toBe(`Unhealthy: results delayed 2 min (last try: ${error.slice(0, 160)}…)`);
    expect(view.figures.filter((f) => f.warn).map((f) => f.key)).toEqual(['outbox']);
    expect(view.figures.find((f) => f.key === 'outbox')!.detail).toBe('8 fact batches waiting for Directus, oldest 2 min');
    // A batch on its way (or a Directus restart of a few seconds) is no delay; nor is anything while no processor reports.
    expect(summarizeStatus([row('a', 2)], checkedAt, undefined, { pending: 1, oldestSeconds: 12, lastError: null }).summary.state).toBe('ok');
    expect(summarizeStatus([row('a', 95)], checkedAt, undefined, { pending: 1, oldestSeconds: 600, lastError: null }).summary.reasons).toEqual(['processor-silent']);
    expect(healthView(summarizeStatus([row('a', 2)], checkedAt, undefined, { pending: 1, oldestSeconds: 45, lastError: null })).headline).toBe('Unhealthy: results delayed 45 s (Directus has not taken them yet)');
  });

  it('says when replay or backfill runs wait with none worked on: no job runner takes them', () => {
    const waiting = [{ kind: 'replay' as const, queued: 2, oldest_seconds: 185, stalled: 0, stalled_seconds: 0 }, { kind: 'backfill' as const, queued: 1, oldest_seconds: 70, stalled: 0, stalled_seconds: 0 }];
    const view = summarizeStatus([row('a', 2)], checkedAt, undefined, null, waiting);
    expect(view.summary).toMatchObject({ state: 'unhealthy', reasons: ['runs-waiting'], runs_waiting: waiting });
    expect(healthView(view).headline).toBe('Unhealthy: 2 replay runs queued for 3 min, 1 backfill run queued for 70 s with none worked on (is `pitwall jobs` running?)');
    expect(summarizeStatus([row('a', 2)], checkedAt).summary).toMatchObject({ state: 'ok', runs_waiting: [] });
    // A runner killed mid-run leaves its run running with no heartbeat: said, beside what is queued behind it.
    const stopped = [{ kind: 'replay' as const, queued: 0, oldest_seconds: 0, stalled: 1, stalled_seconds: 45 }, { kind: 'backfill' as const, queued: 1, oldest_seconds: 20, stalled: 1, stalled_seconds: 125 }];
    expect(healthView(summarizeStatus([row('a', 2)], checkedAt, undefined, null, stopped)).headline).toBe(
      'Unhealthy: 1 replay run stopped 45 s ago, 1 backfill run queued for 20 s, 1 backfill run stopped 2 min ago with none worked on (is `pitwall jobs` running?)',
    );
  });

  it('says since when the processor is silent, in the reader’s time zone, and shows no figure as healthy', () => {
    const view = healthView(summarizeStatus([row('a', 95)], checkedAt), 'Europe/Paris');
    expect(view.headline).toBe('Processor silent since 15:08:25 (2 min ago)');
    expect(view.figures.every((f) => f.warn && f.value === '—')).toBe(true);
  });

  it('names a silent instance among several', () => {
    const view = healthView(summarizeStatus([row('a', 3), row('b', 600)], checkedAt));
    expect(view.headline).toBe('Unhealthy: b silent since 14:00:00');
  });

  it('says when no processor reported yet', () => {
    expect(healthView(summarizeStatus([], checkedAt)).headline).toMatch(/^No processor has reported yet/);
  });
});
