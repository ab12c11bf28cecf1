import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import knexFactory from 'knex';
import { bootstrapDirectus, startDirectus, type DirectusOptions, type RunningDirectus } from '../../src/devstack/directus-process.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { runSetup } from '../../src/setup/setup.ts';
import { createScratchDatabase, dropScratchDatabase, freePort, LOOPBACK_WEBHOOKS_ENV, newTestStack, PG, pgUrl, REDIS_URL, setupOptions, type TestStack } from './stack.ts';

/**
 * Directus's multi-instance mode, as the README's "Running two Directus instances" sets it: one Redis for the cache,
 * the message bus (Flows and schema reload on every instance) and the synchronization store (a scheduled job runs on
 * one instance per tick). Every namespace starts with `prefix`, so a test's instances share only with each other.
 */
export function multiInstanceEnv(prefix: string, redisUrl = REDIS_URL): Record<string, string> {
  return {
    REDIS: redisUrl,
    CACHE_STORE: 'redis',
    SYNCHRONIZATION_STORE: 'redis',
    CACHE_NAMESPACE: `${prefix}:cache`,
    SYNCHRONIZATION_NAMESPACE: `${prefix}:sync`,
    REDIS_BUS_NAMESPACE: `${prefix}:bus`,
    REDIS_LOCK_NAMESPACE: `${prefix}:lock`,
    REDIS_COUNTERS_NAMESPACE: `${prefix}:counters`,
    REDIS_PERMISSIONS_NAMESPACE: `${prefix}:permissions`,
    IMPORT_EXPORT_NAMESPACE: `${prefix}:import-export`,
    WEBSOCKETS_COLLAB_STORE_NAMESPACE: `${prefix}:collab`,
  };
}

export interface DirectusInstance {
  /** The shared stack (admin, processor token, database) with this instance's URL. */
  stack: TestStack;
  /** Kills the instance outright (SIGKILL, as a crash or an OOM kill would) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on its port; resolves once it answers. */
  start(): Promise<void>;
}

export interface DirectusPair {
  a: DirectusInstance;
  b: DirectusInstance;
  /** The prefix of every Redis key and channel the two instances use. */
  redisPrefix: string;
  /** Stops both, drops the database, removes the working directories and the Redis keys. */
  destroy(): Promise<void>;
}

/**
 * Two Directus 11 processes on one scratch database and one Redis, with the bundle and setup (demo included): what
 * an organiser runs behind a load balancer. Same SECRET on both (tokens, encrypted webhook secrets and sealed chain
 * targets made by one are read by the other); webhooks to 127.0.0.1 allowed.
 */
export async function startDirectusPair(label: string, env: Record<string, string> = {}): Promise<DirectusPair> {
  const databaseName = `pitwall_${label}_${process.pid}`;
  const redisPrefix = `pitwall-test:${label}:${process.pid}`;
  await createScratchDatabase(databaseName);
  const stack = newTestStack(11, databaseName);
  const secret = randomBytes(32).toString('hex');
  const optionsOf = async (name: string): Promise<DirectusOptions> => ({
    version: 11,
    port: await freePort(),
    database: { ...PG, name: databaseName },
    admin: { email: stack.adminEmail, password: stack.adminPassword },
    workDir: `/tmp/pitwall-${label}-${name}-${process.pid}`,
    secret,
    env: { ...LOOPBACK_WEBHOOKS_ENV, ...multiInstanceEnv(redisPrefix), RATE_LIMITER_ENABLED: 'false', LOG_LEVEL: 'warn', ...env },
  });
  const options = { a: await optionsOf('a'), b: await optionsOf('b') };
  const running: { a: RunningDirectus | null; b: RunningDirectus | null } = { a: null, b: null };

  const destroy = async () => {
    await Promise.all([running.a?.stop(), running.b?.stop()]);
    running.a = running.b = null;
    await dropScratchDatabase(databaseName);
    for (const o of Object.values(options)) await rm(o.workDir, { recursive: true, force: true });
    await deleteKeys(redisPrefix);
  };

  const db = knexFactory({ client: 'pg', connection: pgUrl(databaseName), pool: { min: 0, max: 2 } });
  try {
    await migrateTelemetry(db);
    await bootstrapDirectus(options.a);
    // Side by side; setup then goes through A, and B hears of each schema change on the shared bus, as any instance
    // does when an admin changes the schema through another.
    const [startedA, startedB] = await Promise.allSettled([startDirectus(options.a), startDirectus(options.b)]);
    running.a = startedA.status === 'fulfilled' ? startedA.value : null;
    running.b = startedB.status === 'fulfilled' ? startedB.value : null;
    for (const started of [startedA, startedB]) if (started.status === 'rejected') throw started.reason;
    stack.directusUrl = running.a!.url;
    stack.logFile = running.a!.logFile;
    await runSetup(db, setupOptions(stack));
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  } finally {
    await db.destroy();
  }

  const instance = (name: 'a' | 'b'): DirectusInstance => ({
    stack: { ...stack, directusUrl: running[name]!.url, logFile: running[name]!.logFile },
    kill: async () => {
      const child = running[name]?.process;
      running[name] = null;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
    start: async () => {
      if (running[name]) throw new Error(`Directus ${name} is already running`);
      running[name] = await startDirectus(options[name]);
    },
  });
  return { a: instance('a'), b: instance('b'), redisPrefix, destroy };
}

/** The keys a pair left in Redis (its channels leave nothing behind). */
async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}
