import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { connectDb } from '../store/db.ts';
import { outboxState, redriveOutbox, troubledOutboxRows, type OutboxListing } from '../store/outbox.ts';

const usage = `usage: pitwall outbox list [--json]
       pitwall outbox redrive [--id <outbox id>]... [--json]
  list     the fact batches waiting for Directus: how many, the parked ones with the reason Directus gave, and the
           ones being retried with their last error ("status" is the same)
  redrive  puts parked batches back in line (all of them, or those given with --id); the processor sends them
           again, oldest first, and the endpoint skips any fact a newer batch already changed`;

const ago = (date: Date, now: number) => {
  const s = Math.max(0, Math.round((now - date.getTime()) / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
};

function line(row: OutboxListing, now: number): string {
  const state = row.failedAt ? `parked ${ago(row.failedAt, now)} ago` : 'in line';
  const attempts = `${row.attempts} attempt${row.attempts === 1 ? '' : 's'}`;
  return `  #${row.id}  ${row.source}  ${row.facts} facts  created ${row.createdAt.toISOString()}  ${attempts}, ${state}\n      ${row.lastError ?? '(no reason recorded)'}`;
}

/** `pitwall outbox list|status|redrive`: see the durable outbox of fact batches and send parked ones again. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { id: { type: 'string', multiple: true }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  const [action, ...extra] = positionals;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!action || extra.length > 0 || !['list', 'status', 'redrive'].includes(action) || (values.id && action !== 'redrive')) {
    console.error(usage);
    return 2;
  }
  const ids = values.id?.map((id) => id.trim());
  const badId = ids?.find((id) => !/^[1-9]\d{0,17}$/.test(id));
  if (badId !== undefined) {
    console.error(`pitwall outbox: --id ${JSON.stringify(badId)} is not an outbox row id (a positive whole number)`);
    return 2;
  }

  const { DATABASE_URL } = loadConfig(z.object({ DATABASE_URL: vars.databaseUrl }));
  const db = connectDb(DATABASE_URL, { pool: 1, application: 'pitwall-outbox' });
  const now = Date.now();
  try {
    if (action === 'redrive') {
      const redriven = await redriveOutbox(db, ids);
      const missing = ids?.filter((id) => !redriven.some((row) => row.id === id)) ?? [];
      if (values.json) {
        console.log(JSON.stringify({ redriven, notParked: missing }, null, 2));
      } else {
        if (redriven.length === 0 && !ids) console.log('no parked fact batches: nothing to redrive');
        if (redriven.length > 0) {
          console.log(`put back in line: ${redriven.length} parked fact batch${redriven.length === 1 ? '' : 'es'} (the processor sends them again, oldest first)`);
          for (const row of redriven) console.log(line(row, now));
        }
        for (const id of missing) console.log(`#${id} is not parked (delivered, in line, or never existed): left alone`);
      }
      return missing.length > 0 ? 1 : 0;
    }

    const [state, rows] = await Promise.all([outboxState(db), troubledOutboxRows(db)]);
    const parked = rows.filter((row) => row.failedAt);
    const retrying = rows.filter((row) => !row.failedAt);
    if (values.json) {
      console.log(JSON.stringify({ ...state, parkedRows: parked, retryingRows: retrying }, null, 2));
      return 0;
    }
    const oldest = state.pending > 0 ? ` (oldest ${ago(new Date(now - state.oldestPendingSeconds * 1000), now)})` : '';
    console.log(`${state.pending} fact batch${state.pending === 1 ? '' : 'es'} waiting for Directus${oldest}, ${state.parked} parked`);
    if (parked.length > 0) {
      console.log('\nparked (Directus refused them as invalid; `pitwall outbox redrive` sends them again):');
      for (const row of parked) console.log(line(row, now));
    }
    if (retrying.length > 0) {
      console.log('\nbeing retried (their last failed attempt):');
      for (const row of retrying) console.log(line(row, now));
    }
    return 0;
  } finally {
    await db.destroy();
  }
}
