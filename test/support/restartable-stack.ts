import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import knexFactory from 'knex';
import { bootstrapDirectus, startDirectus, type DirectusOptions, type RunningDirectus } from '../../src/devstack/directus-process.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { runSetup } from '../../src/setup/setup.ts';
import { createScratchDatabase, dropScratchDatabase, freePort, LOOPBACK_WEBHOOKS_ENV, newTestStack, PG, pgUrl, setupOptions, type TestStack } from './stack.ts';

export interface RestartableStack {
  stack: TestStack;
  /** Stops Directus as an operator would (SIGTERM) and waits until it has exited. */
  stopDirectus(): Promise<void>;
  /** Kills Directus outright (SIGKILL, as a crash or an OOM kill would) and waits until it is gone. */
  killDirectus(): Promise<void>;
  /** Starts Directus again on the same port and database; resolves once it answers. */
  startDirectus(): Promise<void>;
  /** Stops Directus, drops the database and removes the working directory. */
  destroy(): Promise<void>;
}

/**
 * A second, private Directus like the shared test stack (startTestStack), for tests that must stop and start it,
 * or that need another environment (`env` is laid over the shared stack's): the shared one is never restarted. Its
 * own scratch database and port; webhooks to 127.0.0.1 allowed unless `env` says otherwise.
 */
export async function startRestartableStack(label: string, version: 11 | 12 = 11, env: Record<string, string> = {}): Promise<RestartableStack> {
  const databaseName = `pitwall_${label}_${process.pid}`;
  const workDir = `/tmp/pitwall-${label}-${process.pid}`;
  await createScratchDatabase(databaseName);
  const db = knexFactory({ client: 'pg', connection: pgUrl(databaseName), pool: { min: 0, max: 2 } });
  const stack = newTestStack(version, databaseName);
  const options: DirectusOptions = {
    version,
    port: await freePort(),
    database: { ...PG, name: databaseName },
    admin: { email: stack.adminEmail, password: stack.adminPassword },
    workDir,
    secret: randomBytes(32).toString('hex'),
    env: { ...LOOPBACK_WEBHOOKS_ENV, RATE_LIMITER_ENABLED: 'false', LOG_LEVEL: 'warn', ...env },
  };
  let running: RunningDirectus | null = null;
  const destroy = async () => {
    await running?.stop();
    running = null;
    await dropScratchDatabase(databaseName);
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    await migrateTelemetry(db);
    await bootstrapDirectus(options);
    running = await startDirectus(options);
    stack.directusUrl = running.url;
    stack.logFile = running.logFile;
    await runSetup(db, setupOptions(stack));
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  } finally {
    await db.destroy();
  }
  return {
    stack,
    stopDirectus: async () => {
      await running?.stop();
      running = null;
    },
    killDirectus: async () => {
      const child = running?.process;
      running = null;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
    startDirectus: async () => {
      if (running) throw new Error('Directus is already running');
      running = await startDirectus(options);
    },
    destroy,
  };
}
