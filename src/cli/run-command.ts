import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkJobRequest } from '../jobs/default-window.ts';
import type { JobProgress, RunKind } from '../jobs/job.ts';
import { runTable } from '../jobs/job.ts';
import { loadJobsConfig } from '../jobs/jobs-config.ts';
import { JobsService } from '../jobs/jobs-service.ts';
import { inFinalPhase } from '../jobs/run-store.ts';
import { createLogger } from '../observability/logger.ts';

const usage: Record<RunKind, string> = {
  replay: `usage: pitwall replay (--event <uuid> | --entries <uuid,...> | --devices <imei,...>) [--stage <uuid>]
                      [--from <iso>] [--to <iso>] [--mode preview|apply] [--geofences <layout.json>] [--json]
  Replays stored positions through the timing pipeline (range defaults to the stage's or event's window).`,
  backfill: `usage: pitwall backfill (--model <device_models id> | --devices <imei,...>) --from <iso> --to <iso> [--json]
  Decodes the stored raw IO of past positions again with the current IO mapping.`,
};

const list = (value: string | undefined) => (value ? value.split(/[\s,]+/).filter(Boolean) : undefined);

/** A one-line progress bar on stderr (only on a terminal: logs and CI get a line every 10 %). */
function progressBar(kind: RunKind): (progress: JobProgress) => void {
  const started = Date.now();
  let lastDecile = -1;
  return ({ processed, total }) => {
    const fraction = total ? Math.min(1, processed / total) : 0;
    const rate = Math.round(processed / Math.max(0.001, (Date.now() - started) / 1000));
    const text = `${kind} ${(fraction * 100).toFixed(1).padStart(5)}% ${processed}/${total ?? '?'} (${rate}/s)`;
    if (process.stderr.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`);
    } else if (Math.floor(fraction * 10) > lastDecile) {
      lastDecile = Math.floor(fraction * 10);
      process.stderr.write(`${text}\n`);
    }
  };
}

/**
 * `pitwall replay` / `pitwall backfill`: queues a run (a row of replay_runs / backfill_runs, as in the admin app)
 * and works on it here in the foreground with the same engine and runner as `pitwall jobs`. Ctrl-C cancels it.
 * Prints the run's result as JSON (replay: without tracks) and exits 0 when it succeeded.
 */
export function runCommand(kind: RunKind) {
  return async (argv: string[]): Promise<number> => {
    const { values } = parseArgs({
      args: argv,
      options: {
        event: { type: 'string' }, stage: { type: 'string' }, entries: { type: 'string' }, devices: { type: 'string' },
        model: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, mode: { type: 'string' },
        geofences: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(usage[kind]);
      return 0;
    }
    const config = loadJobsConfig();
    const service = new JobsService(config, createLogger(kind, config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL));
    const { db, runner } = service;
    try {
      const body =
        kind === 'replay'
          ? {
              event: values.event, stage: values.stage, entries: list(values.entries), devices: list(values.devices),
              from: values.from, to: values.to, mode: values.mode ?? 'preview',
              geofences: values.geofences ? JSON.parse(readFileSync(values.geofences, 'utf8')) : undefined,
            }
          : { model: values.model, devices: list(values.devices), from: values.from, to: values.to };
      const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
      const engine = (await import('../jobs/engines.ts')).jobEngines()[kind];
      const checked = await checkJobRequest(kind, clean, db, engine.params);
      if (checked.issues) {
        for (const issue of checked.issues) console.error(`pitwall ${kind}: ${issue.path.join('.') || '(options)'}: ${issue.message}`);
        console.error(`\n${usage[kind]}`);
        return 2;
      }
      const [row] = await db(runTable(kind)).insert({ id: randomUUID(), status: 'queued', params: JSON.stringify(checked.params), processed: 0 }).returning('id');
      const id = String(row.id ?? row);
      console.error(`pitwall ${kind}: run ${id}`);
      // As the cancel route: a replay applying its changes is not stopped half-way; a second Ctrl-C ends the process,
      // and the run, left running, is taken back by a runner once its heartbeat is stale and applied whole.
      const cancel = () =>
        void db.transaction(async (trx) => {
          const run = await trx(runTable(kind)).where({ id }).forUpdate().first('status', 'checkpoint', 'attempts');
          if (run && inFinalPhase(run)) return console.error(`\npitwall ${kind}: applying its changes, it ends on its own shortly; Ctrl-C again to stop the process anyway`);
          await trx(runTable(kind)).where({ id }).whereIn('status', ['queued', 'running']).update({ status: 'cancelled', finished_at: trx.fn.now() });
        }).catch((error: unknown) => console.error(`\npitwall ${kind}: could not cancel run ${id}: ${(error as Error).message}`));
      process.once('SIGINT', cancel);
      const outcome = await runner.runNow(kind, id, progressBar(kind));
      process.off('SIGINT', cancel);
      if (process.stderr.isTTY) process.stderr.write('\n');
      if (!outcome) {
        console.error(`pitwall ${kind}: run ${id} was taken by another job runner; follow it in ${runTable(kind)}`);
        return 0;
      }
      const { tracks: _tracks, crossings: _crossings, ...result } = (outcome.result ?? {}) as Record<string, unknown>;
      console.log(JSON.stringify({ run: id, status: outcome.status, ...(outcome.error ? { error: outcome.error } : {}), result }, null, values.json ? 0 : 2));
      return outcome.status === 'succeeded' ? 0 : 1;
    } finally {
      await db.destroy();
    }
  };
}
