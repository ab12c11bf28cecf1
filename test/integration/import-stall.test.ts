import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDb } from '../../src/store/db.ts';
import { adminToken, importFile } from '../support/directus-client.ts';
import { pgUrl } from '../support/stack.ts';
import { startRestartableStack, type RestartableStack } from '../support/restartable-stack.ts';

/**
 * Directus 11.17.4 (and 12.4.0, whose import code is the same) never answers a file import whose every row is refused
 * before anything is written (a required value missing): its queue of rows is empty before the file's end is read,
 * and it waits for a drain that has already happened. The import's transaction holds one of the pool's connections
 * meanwhile, for IMPORT_TIMEOUT (an hour by default). Pitwall's Directus bounds both (IMPORT_BOUNDS in
 * directus-process.ts, directus-compose.yml); here with a short timeout, so the test need not wait for the real one.
 * The first case fails once Directus answers such an import at once: then the bounds can go.
 */
describe('a file import that Directus leaves unanswered', () => {
  let running: RestartableStack;
  let token: string;

  beforeAll(async () => {
    running = await startRestartableStack('import_stall', 11, { IMPORT_TIMEOUT: '3s' });
    token = await adminToken(running.stack);
  }, 180_000);

  afterAll(async () => {
    await running?.destroy();
  });

  const heldTransactions = async () => {
    const db = connectDb(pgUrl('postgres'), { pool: 1 });
    try {
      const rows = await db('pg_stat_activity').where({ datname: running.stack.databaseName }).whereLike('state', 'idle in transaction%').count({ n: '*' });
      return Number(rows[0]!['n']);
    } finally {
      await db.destroy();
    }
  };

  it('is answered with an error once IMPORT_TIMEOUT has passed, and gives its connection back', async () => {
    const started = performance.now();
    const answer = await importFile(running.stack, 'device_models', { text: 'description\nno name\n', type: 'text/csv' }, token);
    const tookMs = performance.now() - started;
    expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
    expect(tookMs).toBeGreaterThanOrEqual(2_500);
    expect(tookMs).toBeLessThan(30_000);
    expect(await heldTransactions()).toBe(0);
  });

  it('keeps the concurrent imports Pitwall allows within a small part of the pool', async () => {
    // Each unanswered import holds a connection until its timeout; more at once than IMPORT_MAX_CONCURRENCY are refused.
    const answers = await Promise.all(Array.from({ length: 5 }, () => importFile(running.stack, 'device_models', { text: 'description\nno name\n', type: 'text/csv' }, token)));
    const refusedAtOnce = answers.filter((a) => a.status === 429 || /limit/i.test(a.text));
    expect(refusedAtOnce.length, answers.map((a) => `${a.status} ${a.text}`).join('\n')).toBe(2);
    expect(await heldTransactions()).toBe(0);
  });
});
