import type { Knex } from 'knex';
import pg, { type Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { GPS_FIX_SQL } from '../../domain/gps-fix.ts';

const { escapeLiteral } = pg;

/** Which stored positions a replay reads: these trackers, GPS time in [from, to), faulty rows and rows without a GPS fix skipped. */
export interface FixRange {
  devices: readonly string[];
  from: number;
  to: number;
}

/** The only columns the racing pipeline needs, in the order FixCopyParser reads them. */
export const FIX_COLUMNS = 'device_id, ts, latitude, longitude, speed';

/**
 * The WHERE clause with its values inlined, since COPY takes no bind parameters: quoted by pg's escapeLiteral
 * (which copes with any server's standard_conforming_strings), once per tracker of a list that may be thousands long.
 */
function rangeWhere(range: FixRange): string {
  if (range.devices.length === 0) return 'false';
  const devices = range.devices.map((device) => escapeLiteral(device)).join(', ');
  const from = escapeLiteral(new Date(range.from).toISOString());
  const to = escapeLiteral(new Date(range.to).toISOString());
  return `device_id IN (${devices}) AND ts >= ${from}::timestamptz AND ts < ${to}::timestamptz AND NOT faulty AND ${GPS_FIX_SQL}`;
}

/** Rows ordered by (device_id, ts): the unique index gives that order, and each tracker's fixes come in one run. */
export function fixSelectSql(range: FixRange): string {
  return `SELECT ${FIX_COLUMNS} FROM positions WHERE ${rangeWhere(range)} ORDER BY device_id, ts`;
}

export function fixCopySql(range: FixRange, format: 'binary' | 'text' = 'binary'): string {
  return `COPY (${fixSelectSql(range)}) TO STDOUT${format === 'binary' ? ' (FORMAT binary)' : ''}`;
}

/**
 * How many rows the read will give, as the planner estimates it (statistics of the last ANALYZE): free, where an
 * exact count scans the whole range once more (a quarter of a replay's time, measured). For progress only.
 */
export async function estimateFixes(db: Knex, range: FixRange): Promise<number> {
  const connection = (await db.client.acquireConnection()) as Client;
  try {
    const result = await connection.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM positions WHERE ${rangeWhere(range)}`);
    return Math.round(result.rows[0]!['QUERY PLAN'][0].Plan['Plan Rows']);
  } finally {
    await db.client.releaseConnection(connection);
  }
}

/** How many rows the read will give. On the driver directly: knex would take a `?` inside a quoted IMEI for a binding. */
export async function countFixes(db: Knex, range: FixRange): Promise<number> {
  const connection = (await db.client.acquireConnection()) as Client;
  try {
    const result = await connection.query<{ count: string }>(`SELECT count(*)::int8 AS count FROM positions WHERE ${rangeWhere(range)}`);
    return Number(result.rows[0]!.count);
  } finally {
    await db.client.releaseConnection(connection);
  }
}

/**
 * Streams `COPY ... TO STDOUT` on a connection of its own, handing each chunk to `onChunk`, then awaiting `between`
 * (progress, cancellation) before the next one, so memory stays at one chunk. When either throws, the statement is
 * cancelled on the server (the connection stays usable), the rest of the stream is discarded, and the error is
 * rethrown. The statement timeout of the pool does not apply: a long replay is not a stuck query.
 */
export async function copyOut(db: Knex, sql: string, onChunk: (chunk: Buffer) => void, between: () => Promise<void> | void = () => {}): Promise<void> {
  const connection = (await db.client.acquireConnection()) as Client & { processID?: number };
  let stop: unknown = null;
  try {
    await connection.query('SET statement_timeout = 0');
    const stream = connection.query(copyTo(sql));
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (stop !== null) continue;
        try {
          onChunk(chunk);
          await between();
        } catch (error) {
          stop = error;
          await db.raw('SELECT pg_cancel_backend(?)', [connection.processID ?? 0]);
        }
      }
    } catch (error) {
      // After a cancel, the stream ends with the server's "canceling statement" error: ours is the one to report.
      if (stop === null) throw error;
    }
    if (stop !== null) throw stop;
  } finally {
    try {
      await connection.query('RESET statement_timeout');
    } finally {
      await db.client.releaseConnection(connection);
    }
  }
}
