import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { bootstrapDirectus, startDirectus, type RunningDirectus } from '../../src/devstack/directus-process.ts';
import { localPostgresHost, postgresUrl } from '../../src/devstack/local-postgres.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { databaseRoleUrl, type DatabaseRole } from '../../src/setup/database-role.ts';
import { runSetup, type SetupOptions } from '../../src/setup/setup.ts';

export const PG = { host: localPostgresHost(), port: 5432, user: 'postgres' };
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const pgUrl = (database: string) => postgresUrl({ ...PG, name: database });

/**
 * How every test stack lets webhooks reach the receivers tests run on 127.0.0.1. Directus's default
 * IMPORT_IP_DENY_LIST denies this machine's addresses, and Pitwall refuses loopback unless
 * PITWALL_WEBHOOK_ALLOW_LIST names it: the stacks opt in for that one address, for their own Directus only (the
 * compose file keeps both defaults).
 */
export const LOOPBACK_WEBHOOKS_ENV = { IMPORT_IP_DENY_LIST: '169.254.169.254', PITWALL_WEBHOOK_ALLOW_LIST: '127.0.0.1' };

/**
 * The live map connects from the admin app to a gateway on another port of 127.0.0.1, over ws://. Directus's
 * Content-Security-Policy lets pages connect to their own origin, https:// and wss:// only, so a deployment without
 * TLS must list its gateway (README, Race control); the test stacks allow ws:// to any port of this machine.
 */
/**
 * How far ahead of the clock the tests' fixes and hand corrections may be (MAX_FUTURE_SKEW_MS, for the processor and
 * Directus alike): races run days ahead, so that the live processor's clock concludes nothing early.
 */
export const FUTURE_RACE_SKEW_MS = 4 * 24 * 3_600_000;

export const LIVE_MAP_CSP_ENV = { CONTENT_SECURITY_POLICY_DIRECTIVES__CONNECT_SRC: "'self',https://*,wss://*,ws://127.0.0.1:*" };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A fresh, empty database on the shared server, for one test run or one test. */
export async function createScratchDatabase(name: string): Promise<void> {
  const admin = knexFactory({ client: 'pg', connection: pgUrl('postgres'), pool: { min: 0, max: 1 } });
  try {
    await admin.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [name]);
    await admin.raw('CREATE DATABASE ??', [name]);
  } finally {
    await admin.destroy();
  }
}

export async function dropScratchDatabase(name: string): Promise<void> {
  const admin = knexFactory({ client: 'pg', connection: pgUrl('postgres'), pool: { min: 0, max: 1 } });
  try {
    await admin.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [name]);
  } finally {
    await admin.destroy();
  }
}

/**
 * Roles belong to the whole Postgres server, which every test stack (and the demo's `pitwall_processor`) shares: the
 * tests use a role of their own, with one fixed password, so that no two stacks change each other's.
 */
export const TEST_DATABASE_ROLE: DatabaseRole = { name: 'pitwall_test_processor', password: 'pitwall-test-processor-role-0123456789' };

export interface TestStack {
  version: 11 | 12;
  directusUrl: string;
  databaseName: string;
  databaseUrl: string;
  adminEmail: string;
  adminPassword: string;
  processorEmail: string;
  processorToken: string;
  /** The role the processor and job runner connect as, and their URL (setup creates the role). */
  processorDatabaseRole: DatabaseRole;
  processorDatabaseUrl: string;
  logFile: string;
}

/** Setup as the test stack runs it: the stack's admin and processor, with the demo race. */
export function setupOptions(stack: TestStack): SetupOptions {
  return {
    directusUrl: stack.directusUrl,
    adminEmail: stack.adminEmail,
    adminPassword: stack.adminPassword,
    processorEmail: stack.processorEmail,
    processorToken: stack.processorToken,
    databaseUrl: stack.databaseUrl,
    databaseRole: stack.processorDatabaseRole,
    demo: true,
  };
}

/** Setup run again on a test stack, as an admin reruns it on every deploy; returns what it changed. */
export async function runSetupAgain(stack: TestStack): Promise<string[]> {
  const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
  try {
    return await runSetup(db, setupOptions(stack));
  } finally {
    await db.destroy();
  }
}

/** A test stack's identity on a scratch database: fresh admin password and processor token; URL set once started. */
export function newTestStack(version: 11 | 12, databaseName: string): TestStack {
  return {
    version,
    directusUrl: '',
    databaseName,
    databaseUrl: pgUrl(databaseName),
    adminEmail: 'admin@pitwall.example.com',
    // As long as setup demands of a deployment's secrets (32 characters and more).
    adminPassword: randomBytes(24).toString('hex'),
    processorEmail: 'processor@pitwall.example.com',
    processorToken: randomBytes(24).toString('hex'),
    processorDatabaseRole: TEST_DATABASE_ROLE,
    processorDatabaseUrl: databaseRoleUrl(pgUrl(databaseName), TEST_DATABASE_ROLE),
    logFile: '',
  };
}

/**
 * A real Directus of the given major on a scratch database, with the bundle loaded and setup (demo included) run:
 * what every integration test talks to. Webhooks to 127.0.0.1 are allowed because test receivers listen there.
 */
export async function startTestStack(
  version: 11 | 12,
  /** Directus in a session of its own, as `npm start` runs it (then it is an autogroup of its own, see BacklogPriority). */
  { directusSession = false } = {},
): Promise<{ stack: TestStack; stop: () => Promise<void> }> {
  const databaseName = `pitwall_test_${version}_${process.pid}`;
  await createScratchDatabase(databaseName);
  const db = knexFactory({ client: 'pg', connection: pgUrl(databaseName), pool: { min: 0, max: 2 } });
  let directus: RunningDirectus | null = null;
  try {
    await migrateTelemetry(db);
    const stack = newTestStack(version, databaseName);
    const options = {
      version,
      port: await freePort(),
      database: { ...PG, name: databaseName },
      admin: { email: stack.adminEmail, password: stack.adminPassword },
      workDir: `/tmp/pitwall-test-directus-${version}-${process.pid}`,
      secret: randomBytes(32).toString('hex'),
      env: { ...LOOPBACK_WEBHOOKS_ENV, ...LIVE_MAP_CSP_ENV, MAX_FUTURE_SKEW_MS: String(FUTURE_RACE_SKEW_MS), RATE_LIMITER_ENABLED: 'false', LOG_LEVEL: 'warn' },
    };
    await bootstrapDirectus(options);
    directus = await startDirectus(options, undefined, { detached: directusSession });
    stack.directusUrl = directus.url;
    stack.logFile = directus.logFile;
    await runSetup(db, setupOptions(stack));
    const running = directus;
    return {
      stack,
      stop: async () => {
        await running.stop();
        await dropScratchDatabase(databaseName);
      },
    };
  } catch (error) {
    await directus?.stop();
    await db.destroy();
    // A setup that failed leaves no scratch database behind; the setup's error is the one worth reporting.
    await dropScratchDatabase(databaseName).catch(() => {});
    throw error;
  } finally {
    await db.destroy();
  }
}
