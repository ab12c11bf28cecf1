/** A zod-shaped issue about one field of a run's row. */
export interface RunFieldIssue {
  code: 'custom';
  path: string[];
  message: string;
}

/**
 * What the job runner writes of a run as it goes, and the value a new run holds (absent or null will do as well):
 * a run created with a result or a start time would read as one that ran.
 */
const runnerFields: Record<string, 0 | null> = {
  progress: 0, processed: 0, total: null, result: null, error: null,
  started_at: null, finished_at: null, heartbeat_at: null, attempts: 0, checkpoint: null,
};

/** What a new run's row must not hold: a status other than queued, or anything the runner writes. */
export function newRunIssues(payload: Record<string, unknown>): RunFieldIssue[] {
  const issues: RunFieldIssue[] = [];
  const status = payload['status'];
  if (status !== undefined && status !== 'queued') issues.push({ code: 'custom', path: ['status'], message: `a run starts queued, not ${JSON.stringify(status)}` });
  for (const [field, initial] of Object.entries(runnerFields)) {
    if (!isInitial(payload[field], initial)) issues.push({ code: 'custom', path: [field], message: 'the job runner writes this as the run goes; leave it out of a new run' });
  }
  return issues;
}

/** Absent, null, or the field's default (a count may come as the text Directus answers 8-byte numbers with). */
const isInitial = (value: unknown, initial: 0 | null): boolean =>
  value === undefined || value === null || (initial === 0 && (typeof value === 'number' || (typeof value === 'string' && value.trim() !== '')) && Number(value) === 0);
