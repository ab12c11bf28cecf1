import { describe, expect, it } from 'vitest';
import { newRunIssues } from '../../../extensions/pitwall/src/shared/new-run.ts';

const fields = (payload: Record<string, unknown>) => newRunIssues(payload).map((issue) => issue.path.join('.'));

describe('what a run created through /items may hold', () => {
  it('takes a new run: bookkeeping absent, null or at its default, status queued or left out', () => {
    expect(fields({})).toEqual([]);
    expect(fields({ status: 'queued', params: {}, processed: 0, progress: 0, attempts: '0', total: null, result: null, request_key: 'k' })).toEqual([]);
  });

  it('names a status other than queued', () => {
    expect(fields({ status: 'succeeded' })).toEqual(['status']);
    expect(fields({ status: null })).toEqual(['status']);
    expect(newRunIssues({ status: 'running' })[0]!.message).toBe('a run starts queued, not "running"');
  });

  it('names each field of the job runner that is set, all in one answer', () => {
    const at = '2026-01-14T09:00:00Z';
    expect(fields({ progress: 1, processed: 5, total: 10, result: { x: 1 }, error: 'x', started_at: at, finished_at: at, heartbeat_at: at, attempts: 1, checkpoint: {} }))
      .toEqual(['progress', 'processed', 'total', 'result', 'error', 'started_at', 'finished_at', 'heartbeat_at', 'attempts', 'checkpoint']);
    // Not taken for the default 0.
    expect(fields({ processed: '', attempts: false, progress: '0.5' })).toEqual(['progress', 'processed', 'attempts']);
  });
});
