import { join } from 'node:path';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { demoDown, demoUp } from '../devstack/demo-stack.ts';
import { repoRoot } from '../devstack/directus-process.ts';
import { localPostgresHost, postgresUrl } from '../devstack/local-postgres.ts';

/** The demo stack's settings; every one can be overridden from the environment. */
const demoEnv = z.object({
  PITWALL_DATA_DIR: z.string().default(join(repoRoot, '.data')),
  DIRECTUS_PORT: vars.port(8055),
  PGHOST: z.string().default(localPostgresHost()),
  PGPORT: vars.port(5432),
  PGUSER: z.string().default('postgres'),
  PITWALL_DATABASE: z.string().regex(/^\w+$/, 'letters, digits and underscores').default('pitwall'),
  DIRECTUS_ADMIN_EMAIL: z.email().default('admin@pitwall.example.com'),
  DIRECTUS_ADMIN_PASSWORD: z.string().min(8).default('pitwall-demo'),
  REDIS_URL: vars.redisUrl,
  REDIS_TELEMETRY_STREAM: vars.telemetryStream,
  METRICS_PORT: vars.port(9464),
  LIVE_WS_PORT: vars.port(8090),
});

function settings() {
  const env = loadConfig(demoEnv);
  return {
    dataDir: env.PITWALL_DATA_DIR,
    directusPort: env.DIRECTUS_PORT,
    database: { host: env.PGHOST, port: env.PGPORT, user: env.PGUSER, name: env.PITWALL_DATABASE },
    adminEmail: env.DIRECTUS_ADMIN_EMAIL,
    adminPassword: env.DIRECTUS_ADMIN_PASSWORD,
    redisUrl: env.REDIS_URL,
    stream: env.REDIS_TELEMETRY_STREAM,
    metricsPort: env.METRICS_PORT,
    livePort: env.LIVE_WS_PORT,
  };
}

const say = (line: string) => console.log(`pitwall: ${line}`);

export async function up(): Promise<void> {
  const s = settings();
  await demoUp(s, say);
  console.log(`
  Directus   http://localhost:${s.directusPort}   (log in as ${s.adminEmail} / ${s.adminPassword})
  Race       http://localhost:${s.directusPort}/admin/insights   (the Race Control dashboard: live classification)
  Live map   on the Race Control dashboard; its gateway is ws://localhost:${s.livePort}/ws-live
  Positions  arriving in the "positions" table of database "${s.database.name}"
  Metrics    http://localhost:${s.metricsPort}/metrics
  Export     Parquet files in ${s.dataDir}/export; query them with
             EXPORT_DIR=${s.dataDir}/export DATABASE_URL='${postgresUrl(s.database)}' bin/pitwall query-export "<SQL>"
  Logs       ${s.dataDir}/*.log
  Stop       npm stop
`);
}

export async function down(): Promise<void> {
  await demoDown(settings(), say);
}
