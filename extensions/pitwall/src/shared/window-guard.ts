import type { Accountability } from '@directus/types';
import { timeWindowProblem } from '../../../../src/domain/timing/time-window-problem.ts';
import { beforeYearOne, timestampValueMs } from './directus-timestamp.ts';
import { refuse, writePermission } from './write-guard.ts';

type Row = Record<string, unknown>;

/** The collections whose rows hold a window of time, its two fields, and what a window closing first would do. */
export const WINDOWS = {
  events: { from: 'starts_at', to: 'ends_at', consequence: 'an event that ends before it starts holds no stage time' },
  stages: {
    from: 'opens_at',
    to: 'closes_at',
    consequence: 'a stage that closes before it opens times no crossing, and its running cars are made DNF as it is saved',
  },
  entry_devices: { from: 'valid_from', to: 'valid_to', consequence: 'an assignment that ends before it starts times the entry from no tracker' },
} as const;

export type WindowCollection = keyof typeof WINDOWS;

/**
 * A time as Directus stores it: a stored row's Date, a written text, or null; NaN for text that is no time, or for a
 * time before year 1, both the column guard's to refuse with their own reason.
 */
function timeOf(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const ms = timestampValueMs(value);
  return beforeYearOne(ms) === null ? ms : Number.NaN;
}

/**
 * A stage, event or tracker assignment whose window closes before it opens is refused with a 400 naming the field the
 * write set (timeWindowProblem): Directus stored it, and a stage so edited mid-race stopped timing its cars and made
 * the running ones DNF, with nothing said. An update is checked as each row it makes (the stored row with the payload
 * over it). A caller who may not write is left to Directus's 403.
 */
export function windowGuard(database: any) {
  const mayWrite = writePermission(database);
  return async (collection: WindowCollection, payload: Row, keys: string[] | null, accountability: Accountability | null | undefined, knex?: any): Promise<Row> => {
    const { from, to, consequence } = WINDOWS[collection];
    if (keys !== null && payload[from] === undefined && payload[to] === undefined) return payload;
    if (!(await mayWrite(collection, keys === null ? 'create' : 'update', accountability))) return payload;
    const rows: Row[] = keys === null ? [payload] : (await (knex ?? database)(collection).whereIn('id', keys).select(from, to)).map((row: Row) => ({ ...row, ...payload }));
    const written = new Set(Object.keys(payload));
    for (const row of rows) {
      const problem = timeWindowProblem({ fromField: from, from: timeOf(row[from]), toField: to, to: timeOf(row[to]) }, written, consequence);
      if (problem) refuse([problem]);
    }
    return payload;
  };
}
