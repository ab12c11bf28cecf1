import { cpus } from 'node:os';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';

/** What every bench shares: progress on stderr, cleanup that tries every step, and the one-line JSON report. */

export type Progress = (message: string) => void;

export const progressFor = (bench: string): Progress => (message) => process.stderr.write(`${bench} bench: ${message}\n`);

/** Runs every cleanup step, even after one fails: a bench must not leave a Directus or a database behind. */
export async function cleanUp(steps: [string, () => Promise<unknown>][], progress: Progress): Promise<void> {
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (error) {
      progress(`cleanup: ${name} failed: ${(error as Error).message}`);
    }
  }
}

/** Prints the result as the last line (BENCHMARKS.md) and exits 0, or reports the failure and exits 1. */
export function report(run: Promise<Record<string, unknown> | null>, progress: Progress): void {
  run.then(
    (result) => {
      if (result) console.log(JSON.stringify(result));
      process.exit(0);
    },
    (error: unknown) => {
      progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}

/** What the figures were measured on, for the report. */
export async function measuredOn(db: Knex, redis?: Redis): Promise<Record<string, unknown>> {
  const [pg] = (await db.raw('SHOW server_version')).rows as { server_version: string }[];
  const redisVersion = redis ? /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] : undefined;
  return { cpus: cpus().length, node: process.version, postgres: pg?.server_version, ...(redis ? { redis: redisVersion } : {}) };
}
