import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { demoEntries, demoId } from '../demo/demo-race.ts';
import { simulateRace } from '../simulator/race-schedule.ts';
import { databaseRoleUrl, DEFAULT_DATABASE_ROLE, type DatabaseRole } from '../setup/database-role.ts';
import { runSetup } from '../setup/setup.ts';
import { migrateTelemetry } from '../store/migrate.ts';
import { bootstrapDirectus, repoRoot, startDirectus, type DirectusOptions } from './directus-process.ts';
import { postgresUrl } from './local-postgres.ts';

export interface DemoSettings {
  dataDir: string;
  directusPort: number;
  database: { host: string; port: number; user: string; name: string };
  adminEmail: string;
  adminPassword: string;
  redisUrl: string;
  stream: string;
  metricsPort: number;
  /** Where the live gateway listens for the live map (ws://localhost:<port>/ws-live). */
  livePort: number;
}

interface Secrets {
  secret: string;
  processorToken: string;
  /** The password of the processor's database role (added to the secrets of a data folder made before it). */
  databasePassword: string;
}

/** Secrets are made once per checkout and kept in the data folder, so restarts keep sessions and tokens valid. */
function secrets(dataDir: string): Secrets {
  const file = join(dataDir, 'secrets.json');
  const kept = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as Partial<Secrets>;
  const made: Secrets = {
    secret: kept.secret ?? randomBytes(32).toString('hex'),
    processorToken: kept.processorToken ?? randomBytes(24).toString('hex'),
    databasePassword: kept.databasePassword ?? randomBytes(24).toString('hex'),
  };
  if (Object.keys(kept).length !== Object.keys(made).length) writeFileSync(file, JSON.stringify(made, null, 2), { mode: 0o600 });
  return made;
}

const pidFile = (settings: DemoSettings, name: string) => join(settings.dataDir, `${name}.pid`);

export function runningPid(settings: DemoSettings, name: string): number | null {
  const file = pidFile(settings, name);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8'));
  return isAlive(pid) ? pid : null;
}

/**
 * Where the demo's Directus may send webhooks, when `npm start` is given it: Directus gets no other variable of the
 * shell, and by default refuses this machine and private networks (see the README's webhook section), so an
 * integrator trying the demo with a receiver on their own machine sets these two.
 */
export function receiverAddresses(env: NodeJS.ProcessEnv): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const name of ['PITWALL_WEBHOOK_ALLOW_LIST', 'IMPORT_IP_DENY_LIST'] as const) {
    const value = env[name];
    if (value !== undefined) passed[name] = value;
  }
  return passed;
}

function startDetached(settings: DemoSettings, name: string, args: string[], env: Record<string, string>): number {
  const log = openSync(join(settings.dataDir, `${name}.log`), 'a');
  const child = spawn(join(repoRoot, 'bin/pitwall'), args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', log, log],
    detached: true,
  });
  child.unref();
  writeFileSync(pidFile(settings, name), String(child.pid));
  return child.pid!;
}

/**
 * Waits until a process started by startDetached answers on its metrics port itself (the `x-pitwall-pid` header:
 * another process may hold the port), or fails saying why: a process that exited at start (a port in use, a bad
 * setting) must not be reported as started.
 */
export async function answering(settings: DemoSettings, name: string, pid: number, port: number): Promise<void> {
  const log = join(settings.dataDir, `${name}.log`);
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    if (!isAlive(pid)) {
      const tail = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-5).join('\n');
      throw new Error(`${name} exited as it started; the end of ${log}:\n${tail}`);
    }
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (response?.headers.get('x-pitwall-pid') === String(pid)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} (pid ${pid}) did not answer on :${port} within a minute; see ${log}`);
}

async function ensureDatabase(settings: DemoSettings): Promise<void> {
  const { host, port, user, name } = settings.database;
  const admin = knexFactory({ client: 'pg', connection: postgresUrl({ host, port, user, name: 'postgres' }), pool: { min: 0, max: 1 } });
  try {
    const { rows } = await admin.raw('SELECT 1 FROM pg_database WHERE datname = ?', [name]);
    if (rows.length === 0) await admin.raw('CREATE DATABASE ??', [name]);
  } finally {
    await admin.destroy();
  }
}

/** Brings up Directus with the bundle, setup with the demo race, the processor and a looping simulator. */
export async function demoUp(settings: DemoSettings, say: (line: string) => void): Promise<void> {
  mkdirSync(settings.dataDir, { recursive: true });
  const { secret, processorToken, databasePassword } = secrets(settings.dataDir);
  const { host, port, user, name } = settings.database;
  const databaseUrl = postgresUrl({ host, port, user, name });
  // Setup connects as the owner; the processor and the job runner as their own role, as in a deployment.
  const databaseRole: DatabaseRole = { name: DEFAULT_DATABASE_ROLE, password: databasePassword };
  const processorDatabaseUrl = databaseRoleUrl(databaseUrl, databaseRole);
  await ensureDatabase(settings);
  const db = knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 2 } });
  try {
    await migrateTelemetry(db);
    const directusOptions: DirectusOptions = {
      version: 11,
      port: settings.directusPort,
      database: settings.database,
      admin: { email: settings.adminEmail, password: settings.adminPassword },
      workDir: join(settings.dataDir, 'directus'),
      secret,
      // The live map panel connects here; the browser sends its Directus session cookie to the same host name.
      // Directus's Content-Security-Policy allows ws:// only to its own origin: the gateway is added, the
      // defaults kept (Directus merges this list into its own position by position).
      env: {
        PITWALL_LIVE_URL: `ws://localhost:${settings.livePort}/ws-live`,
        // Both names of this machine: the panel connects by the name the page was opened with (gatewayUrl).
        CONTENT_SECURITY_POLICY_DIRECTIVES__CONNECT_SRC: `'self',https://*,wss://*,ws://localhost:${settings.livePort},ws://127.0.0.1:${settings.livePort}`,
        ...receiverAddresses(process.env),
      },
    };
    const directusUrl = `http://127.0.0.1:${settings.directusPort}`;
    if (runningPid(settings, 'directus')) {
      say(`Directus is already running on ${directusUrl}`);
    } else {
      say('bootstrapping Directus 11.17.4');
      await bootstrapDirectus(directusOptions);
      say(`starting Directus on ${directusUrl}`);
      const directus = await startDirectus(directusOptions, 120_000, { detached: true });
      writeFileSync(pidFile(settings, 'directus'), String(directus.process.pid));
    }
    say('setting up collections, the processor role and the demo race');
    const done = await runSetup(db, {
      directusUrl,
      adminEmail: settings.adminEmail,
      adminPassword: settings.adminPassword,
      processorEmail: 'processor@pitwall.example.com',
      processorToken,
      databaseUrl,
      databaseRole,
      demo: true,
    });
    say(done.length ? `setup made ${done.length} changes` : 'setup: everything was in place');
    const stream = { REDIS_URL: settings.redisUrl, REDIS_TELEMETRY_STREAM: settings.stream };
    const round = runningPid(settings, 'simulator')
      ? null
      : demoRoundPlan({ now: Date.now(), roundStart: readDemoRound(settings), processorRunning: runningPid(settings, 'processor') !== null });
    if (round?.kind === 'new') {
      await openNewDemoRound(db, round.start);
      writeDemoRound(settings, round.start);
      say('demo race: a new round from now: stages open again, timing of earlier rounds cleared');
    }
    // A round opened or resumed is driven from its own start; a loop starts from now.
    const simulatorArgs = ['simulate', '--loop', '--speed', '1', ...(round !== null && round.kind !== 'loop' ? ['--start', new Date(round.start).toISOString()] : [])];
    if (round?.kind === 'resume') {
      const sent = await newestDemoFix(db, round.start);
      if (sent !== null) simulatorArgs.push('--after', new Date(sent).toISOString());
      const stoppedS = sent === null ? null : Math.round((Date.now() - sent) / 1000);
      say(
        `demo race: resuming the round started at ${new Date(round.start).toISOString().slice(11, 19)} UTC; its timing and the officials' decisions stay` +
          (stoppedS === null ? '' : `, and the fixes of the ${stoppedS} s stopped arrive at once, as a fleet uploads what its trackers buffered`),
      );
    }
    // Each started one is waited for on its metrics port before it is said to be up.
    const started: Promise<void>[] = [];
    const start = (name: string, args: string[], port: number, env: Record<string, string>, what: string) => {
      if (runningPid(settings, name)) return;
      const pid = startDetached(settings, name, args, { ...env, METRICS_PORT: String(port) });
      started.push(answering(settings, name, pid, port).then(() => say(what)));
    };
    start('processor', ['processor'], settings.metricsPort, { ...stream, DATABASE_URL: processorDatabaseUrl, DIRECTUS_URL: directusUrl, DIRECTUS_TOKEN: processorToken }, `processor started (metrics on :${settings.metricsPort})`);
    start('jobs', ['jobs'], settings.metricsPort + 1, { DATABASE_URL: processorDatabaseUrl, DIRECTUS_URL: directusUrl, DIRECTUS_TOKEN: processorToken }, `job runner started for replay and backfill runs (metrics on :${settings.metricsPort + 1})`);
    start('gateway', ['gateway'], settings.metricsPort + 2, { ...stream, DATABASE_URL: processorDatabaseUrl, DIRECTUS_URL: directusUrl, LIVE_WS_PORT: String(settings.livePort), INSTANCE_ID: 'demo' }, `live gateway started on ws://localhost:${settings.livePort}/ws-live (metrics on :${settings.metricsPort + 2})`);
    // A short rotation age, so that a demo shows its files within seconds (production keeps the default minute).
    const exportDir = join(settings.dataDir, 'export');
    start('exporter', ['exporter'], settings.metricsPort + 3, { ...stream, DATABASE_URL: processorDatabaseUrl, EXPORT_DIR: exportDir, EXPORT_FILE_MAX_AGE_MS: '10000' }, `analytics exporter started: Parquet files in ${exportDir} (metrics on :${settings.metricsPort + 3})`);
    const outcomes = await Promise.allSettled(started);
    const failed = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [(outcome.reason as Error).message] : []));
    if (failed.length > 0) throw new Error(`${failed.join('\n')}\n(the others keep running; \`npm stop\` stops them)`);
    if (round !== null) {
      startDetached(settings, 'simulator', simulatorArgs, stream);
      say('simulator started: 20 entries driving SS1 and SS2 at 1 Hz');
    }
  } finally {
    await db.destroy();
  }
}

const WEEK = 7 * 24 * 3600 * 1000;

/** From the first departure to the last car's last fix of the simulator's first round, as `npm start` runs it. */
let raceMs: number | null = null;
export function demoRaceMs(): number {
  raceMs ??= simulateRace({ start: 0 }).at(-1)!.ts;
  return raceMs;
}

/**
 * What `npm start` does with the demo race when no simulator runs (null: one runs, nothing to do). `resume`: the
 * round started last is still being driven: the simulator drives it on from where it stopped, so a restart in the
 * middle keeps the round's timing and the officials' penalties and corrections. `new`: no round is being driven
 * (none yet, or the last one ended): a new one from now, when no processor still times the one before. `loop`: the
 * round ended but a processor still runs: the simulator loops as it did, moving the live map.
 */
export function demoRoundPlan({ now, roundStart, processorRunning }: { now: number; roundStart: number | null; processorRunning: boolean }):
  | { kind: 'resume'; start: number }
  | { kind: 'new'; start: number }
  | { kind: 'loop' } {
  if (roundStart !== null && roundStart <= now && now < roundStart + demoRaceMs()) return { kind: 'resume', start: roundStart };
  return processorRunning ? { kind: 'loop' } : { kind: 'new', start: now };
}

const roundFile = (settings: DemoSettings) => join(settings.dataDir, 'demo-round.json');

/** When the round `npm start` opened last began, or null (none, or a file that says no time). */
export function readDemoRound(settings: DemoSettings): number | null {
  if (!existsSync(roundFile(settings))) return null;
  try {
    const start = Date.parse(String((JSON.parse(readFileSync(roundFile(settings), 'utf8')) as { start?: unknown }).start));
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

export function writeDemoRound(settings: DemoSettings, start: number): void {
  writeFileSync(roundFile(settings), JSON.stringify({ start: new Date(start).toISOString() }));
}

/** The newest stored fix of the demo's trackers in the round from `start`: the simulator sent everything up to it. */
export async function newestDemoFix(db: Knex, start: number): Promise<number | null> {
  const row = await db('positions').whereIn('device_id', demoEntries.map((e) => e.imei)).where('ts', '>=', new Date(start)).max({ ts: 'ts' }).first();
  return row?.ts ? new Date(row.ts).getTime() : null;
}

/**
 * Opens the demo race again for a simulator round starting at `start`. The simulator drives the same cars over the
 * same stages every round, and a car that has started a stage is not started again by crossing its start line once
 * more (so a car driving back through the gate changes nothing): on stages that stayed open, a second round would
 * never be timed. So the demo stages open again at `start` (the positions of earlier rounds, all stored before it,
 * fall outside every stage: with a margin before it, the last seconds of a round stopped in the middle were timed
 * again as the new round's starts), and the timing of earlier rounds is cleared. Stored positions stay, and so do the
 * race events that announced the earlier rounds.
 */
export async function openNewDemoRound(db: Knex, start: number): Promise<void> {
  const event = demoId('event');
  const opens = new Date(start);
  const closes = new Date(start + WEEK);
  await db.transaction(async (trx) => {
    const stages: string[] = await trx('stages').where({ event }).pluck('id');
    await trx('events').where({ id: event }).update({ starts_at: opens, ends_at: closes });
    await trx('stages').where({ event }).update({ opens_at: opens, closes_at: closes });
    for (const table of ['entry_crossings', 'entry_penalties', 'stage_results']) await trx(table).whereIn('stage', stages).delete();
    await trx('anomalies').whereIn('device_id', demoEntries.map((e) => e.imei)).delete();
  });
}

/**
 * How long a stopping service may take before it is killed: Directus answers the webhook attempts under way for up to
 * 8 s before its pool closes, and its pool waits for every connection a request holds (a file import Directus left
 * unanswered holds one until IMPORT_TIMEOUT).
 */
const STOP_WAIT_MS = 20_000;

export async function demoDown(settings: DemoSettings, say: (line: string) => void, stopWaitMs = STOP_WAIT_MS): Promise<void> {
  const stopping: { name: string; pid: number }[] = [];
  for (const name of ['simulator', 'exporter', 'gateway', 'jobs', 'processor', 'directus']) {
    const pid = runningPid(settings, name);
    if (!pid) continue;
    signalGroup(pid, 'SIGTERM');
    stopping.push({ name, pid });
  }
  // Said only once each is gone: a `npm start` right after must not find the last one still holding its port.
  const deadline = performance.now() + stopWaitMs;
  for (const { name, pid } of stopping) {
    while (isAlive(pid) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (!isAlive(pid)) {
      say(`stopped ${name} (pid ${pid})`);
      continue;
    }
    signalGroup(pid, 'SIGKILL');
    say(`killed ${name} (pid ${pid}): it had not stopped ${stopWaitMs / 1000} s after SIGTERM`);
  }
}

/** Each service was started as a process-group leader, so its children (Directus workers, tsx) get the signal too. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone meanwhile.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
