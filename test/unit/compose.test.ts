import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { IMPORT_BOUNDS, repoRoot } from '../../src/devstack/directus-process.ts';

// Docker does not run on this machine: the compose file is checked by reading it as Compose would.
const compose = parse(readFileSync(join(repoRoot, 'directus-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, any>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const pitwallServices = ['setup', 'processor', 'jobs', 'gateway', 'exporter'];
const rootPackage = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

describe('directus-compose.yml', () => {
  it('has PostGIS, Redis, Directus and every Pitwall service, and only commands that exist', () => {
    expect(Object.keys(services).sort()).toEqual(['directus', 'exporter', 'gateway', 'jobs', 'postgis', 'processor', 'redis', 'setup']);
    // Each Pitwall service runs a `pitwall` command: one the CLI does not have would only fail at deploy time.
    const cli = readFileSync(join(repoRoot, 'src/cli/main.ts'), 'utf8');
    for (const name of pitwallServices) expect(cli, name).toMatch(new RegExp(`^  ${services[name].command[0]}: \\{`, 'm'));
    // No profile hides a service that cannot start yet.
    for (const [name, service] of Object.entries(services)) expect(service.profiles, name).toBeUndefined();
  });

  it('runs the Directus version the platform uses, the one the tests use too', () => {
    expect(services.directus.image).toBe('directus/directus:11.17.4');
    expect(rootPackage.devDependencies.directus).toBe('11.17.4');
  });

  it('mounts the built bundle and makes a broken extension fail loudly', () => {
    expect(services.directus.volumes).toContain('./extensions/pitwall:/directus/extensions/pitwall:ro');
    expect(services.directus.environment).toMatchObject({ EXTENSIONS_PATH: '/directus/extensions', EXTENSIONS_MUST_LOAD: 'true' });
    expect(services.directus.ports).toEqual(['8055:8055']);
    expect(services.directus.environment.IMPORT_IP_DENY_LIST).toBeUndefined();
    expect(services.directus.environment.PITWALL_WEBHOOK_ALLOW_LIST).toBeUndefined();
  });

  it('bounds file imports as the dev stack does: a stalled import cannot hold the pool for an hour', () => {
    expect(services.directus.environment.IMPORT_TIMEOUT).toBe(`\${DIRECTUS_IMPORT_TIMEOUT:-${IMPORT_BOUNDS.IMPORT_TIMEOUT}}`);
    expect(services.directus.environment.IMPORT_MAX_CONCURRENCY).toBe(`\${DIRECTUS_IMPORT_MAX_CONCURRENCY:-${IMPORT_BOUNDS.IMPORT_MAX_CONCURRENCY}}`);
  });

  it('gives setup every secret it checks for placeholders and length', () => {
    for (const key of ['DIRECTUS_ADMIN_PASSWORD', 'PITWALL_PROCESSOR_TOKEN', 'DIRECTUS_SECRET']) expect(services.setup.environment[key], key).toBe(`\${${key}:?set ${key}}`);
    expect(services.setup.environment.DATABASE_URL).toContain('${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}');
  });

  it('uses PostGIS and a Redis that persists to a volume', () => {
    expect(services.postgis.image).toMatch(/^postgis\/postgis:15-/);
    expect(services.redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(services.redis.volumes).toEqual(['redis-data:/data']);
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining(['postgis-data', 'redis-data']));
  });

  it('gives every Pitwall service the same REDIS_TELEMETRY_STREAM, Redis and database', () => {
    const values = (key: string) => new Set(pitwallServices.map((name) => services[name].environment[key]));
    expect(values('REDIS_TELEMETRY_STREAM')).toEqual(new Set(['${REDIS_TELEMETRY_STREAM:-telemetry:teltonika}']));
    expect(values('REDIS_URL')).toEqual(new Set(['redis://redis:6379']));
    // The same server and database (after the credentials), each as its own user.
    expect(new Set(pitwallServices.map((name) => services[name].environment.DATABASE_URL.split('@')[1]))).toEqual(new Set(['postgis:5432/${POSTGRES_DB:-pitwall}']));
  });

  it('connects the processor and the job runner as their own database role, which setup creates; only setup as the owner', () => {
    const processorUrl = 'postgres://${PITWALL_DB_ROLE:-pitwall_processor}:${PITWALL_DB_PASSWORD:?set PITWALL_DB_PASSWORD}@postgis:5432/${POSTGRES_DB:-pitwall}';
    expect(services.processor.environment.DATABASE_URL).toBe(processorUrl);
    expect(services.jobs.environment.DATABASE_URL).toBe(processorUrl);
    expect(services.gateway.environment.DATABASE_URL).toBe(processorUrl);
    expect(services.exporter.environment.DATABASE_URL).toBe(processorUrl);
    expect(services.setup.environment.DATABASE_URL).toMatch(/^postgres:\/\/\$\{POSTGRES_USER:-pitwall\}:/);
    expect(services.setup.environment).toMatchObject({ PITWALL_DB_ROLE: '${PITWALL_DB_ROLE:-pitwall_processor}', PITWALL_DB_PASSWORD: '${PITWALL_DB_PASSWORD:?set PITWALL_DB_PASSWORD}' });
    // Directus itself stays on the owner.
    expect(services.directus.environment.DB_USER).toBe('${POSTGRES_USER:-pitwall}');
    for (const name of ['processor', 'jobs', 'gateway', 'exporter']) expect(JSON.stringify(services[name].environment), name).not.toContain('POSTGRES_PASSWORD');
    // .env.example names the variables, with a placeholder setup refuses.
    const example = readFileSync(join(repoRoot, '.env.example'), 'utf8');
    expect(example).toMatch(/^PITWALL_DB_ROLE=pitwall_processor$/m);
    expect(example).toMatch(/^PITWALL_DB_PASSWORD=CHANGE-ME/m);
  });

  it('health-checks every long-running service', () => {
    for (const name of ['postgis', 'redis', 'directus', 'processor', 'jobs', 'gateway', 'exporter']) {
      expect(services[name].healthcheck?.test, name).toBeDefined();
    }
    expect(services.processor.healthcheck.test.join(' ')).toContain('9464/healthz');
    expect(services.jobs.healthcheck.test.join(' ')).toContain('9465/healthz');
    expect(services.gateway.healthcheck.test.join(' ')).toContain('9466/healthz');
  });

  it('starts the processor only after setup succeeded, with the processor token, never an admin token', () => {
    expect(services.processor.depends_on.setup).toEqual({ condition: 'service_completed_successfully' });
    expect(services.processor.environment.DIRECTUS_TOKEN).toBe('${PITWALL_PROCESSOR_TOKEN:?set PITWALL_PROCESSOR_TOKEN}');
    for (const name of ['processor', 'jobs', 'gateway', 'exporter']) {
      expect(Object.keys(services[name].environment).filter((k) => /ADMIN/.test(k)), name).toEqual([]);
    }
  });

  it('lets the processor, an unprivileged user, raise its priority back after draining a backlog', () => {
    expect(services.processor.ulimits).toEqual({ nice: 20 });
  });

  it('serves metrics of each long-running Pitwall service on its own METRICS_PORT', () => {
    const metricsPorts = ['processor', 'jobs', 'gateway', 'exporter'].map((name) => services[name].environment.METRICS_PORT);
    expect(new Set(metricsPorts).size).toBe(4);
    expect(services.exporter.healthcheck.test.join(' ')).toContain(`${services.exporter.environment.METRICS_PORT}/healthz`);
  });

  it("keeps the exporter's Parquet files on a volume, and ClickHouse off unless CLICKHOUSE_URL is set", () => {
    expect(services.exporter.volumes).toEqual(['export-data:/export']);
    expect(services.exporter.environment.EXPORT_DIR).toBe('/export');
    expect(services.exporter.environment.CLICKHOUSE_URL).toBe('${CLICKHOUSE_URL:-}');
    expect(Object.keys(compose.volumes)).toContain('export-data');
  });

  it('publishes the live gateway where the live map panel is told to connect', () => {
    expect(services.gateway.ports).toEqual(['8090:8090']);
    expect(services.gateway.environment.LIVE_WS_PORT).toBe('8090');
    expect(services.directus.environment.PITWALL_LIVE_URL).toBe('${PITWALL_LIVE_URL:-ws://localhost:8090/ws-live}');
    // The page may connect there: Directus's policy allows ws:// only to its own origin otherwise.
    expect(services.directus.environment.CONTENT_SECURITY_POLICY_DIRECTIVES__CONNECT_SRC).toBe("'self',https://*,wss://*,${PITWALL_LIVE_ORIGIN:-ws://localhost:8090}");
  });

  it('builds Pitwall processes from the repository image', () => {
    for (const name of pitwallServices) {
      expect(services[name].build, name).toBe('.');
      expect(services[name].command, name).toEqual([name]);
    }
  });
});
