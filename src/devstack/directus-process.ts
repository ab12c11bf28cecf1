import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** The repository root, for locating the Directus installs and the extensions folder. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const EXIT_WITH_PARENT = join(repoRoot, 'src/devstack/exit-with-parent.cjs');

/** Where each supported Directus major is installed: 11 by the root lockfile, 12 by compat/directus12. */
export const directusCli: Record<11 | 12, string> = {
  11: join(repoRoot, 'node_modules/directus/cli.js'),
  12: join(repoRoot, 'compat/directus12/node_modules/directus/cli.js'),
};

export interface DirectusOptions {
  version: 11 | 12;
  port: number;
  database: { host: string; port: number; user: string; password?: string; name: string };
  admin: { email: string; password: string };
  /** A folder for uploads, the log file and Directus's working directory. */
  workDir: string;
  secret: string;
  /** Extra environment, e.g. IMPORT_IP_DENY_LIST for tests that receive webhooks on loopback. */
  env?: Record<string, string>;
}

/**
 * Directus never answers a file import whose every row is refused before anything is written (a required value
 * missing in a timekeeper's CSV): its transaction then holds one of the pool's ten connections for IMPORT_TIMEOUT, an
 * hour by default, and ten such tries stop Directus. Bounded here: a stalled import is answered with an error after
 * two minutes (ours are hundreds of rows, a few seconds), and at most three run at once (a fourth is refused at once).
 */
export const IMPORT_BOUNDS = { IMPORT_TIMEOUT: '2m', IMPORT_MAX_CONCURRENCY: '3' } as const;

export function directusEnv(options: DirectusOptions): Record<string, string> {
  const { database, admin, port } = options;
  return {
    DB_CLIENT: 'pg',
    DB_HOST: database.host,
    DB_PORT: String(database.port),
    DB_DATABASE: database.name,
    DB_USER: database.user,
    ...(database.password ? { DB_PASSWORD: database.password } : {}),
    SECRET: options.secret,
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    // Setting the owner at bootstrap keeps the admin app from opening its "project owner" dialog.
    PROJECT_OWNER: admin.email,
    PROJECT_NAME: 'Pitwall',
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    EXTENSIONS_PATH: join(repoRoot, 'extensions'),
    // A broken bundle must fail loudly, not load half the extensions with a warning.
    EXTENSIONS_MUST_LOAD: 'true',
    STORAGE_LOCATIONS: 'local',
    STORAGE_LOCAL_ROOT: join(options.workDir, 'uploads'),
    TELEMETRY: 'false',
    CACHE_ENABLED: 'false',
    // Serve the cached schema frozen instead of deep-cloning it for every Flow run and request (Directus's own switch;
    // the bundle never mutates the schema). At a hundred race events a second the clone was a quarter of its CPU.
    CACHE_SCHEMA_FREEZE_ENABLED: 'true',
    WEBSOCKETS_ENABLED: 'true',
    ...IMPORT_BOUNDS,
    LOG_LEVEL: 'warn',
    ...options.env,
  };
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // Directus reads a lot of variables; hand it only ours and the basics, so a developer's shell cannot leak in.
  const { PATH, HOME, LANG, TZ } = process.env;
  return { PATH, HOME, LANG, TZ, NODE_ENV: 'production', ...extra };
}

/** Directus looks for npm-installed extensions in its working directory's package.json, so it must have one. */
function prepareWorkDir(workDir: string): void {
  mkdirSync(join(workDir, 'uploads'), { recursive: true });
  const manifest = join(workDir, 'package.json');
  if (!existsSync(manifest)) writeFileSync(manifest, JSON.stringify({ name: 'pitwall-directus-project', private: true }, null, 2));
}

function runToEnd(cli: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise(output) : reject(new Error(`directus ${args.join(' ')} exited with ${code}:\n${output}`)),
    );
  });
}

export interface RunningDirectus {
  url: string;
  process: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/** Installs or migrates the Directus system tables and creates the first admin. Idempotent. */
export async function bootstrapDirectus(options: DirectusOptions): Promise<void> {
  prepareWorkDir(options.workDir);
  await runToEnd(directusCli[options.version], ['bootstrap'], childEnv(directusEnv(options)), options.workDir);
}

/** Starts `directus start` and resolves once /server/health answers. */
export async function startDirectus(options: DirectusOptions, timeoutMs = 90_000, { detached = false } = {}): Promise<RunningDirectus> {
  const logFile = join(options.workDir, 'directus.log');
  prepareWorkDir(options.workDir);
  const log = openSync(logFile, 'a');
  // Profiling a bench, e.g. PITWALL_DIRECTUS_NODE_ARGS="--prof": Node flags for the Directus process only.
  const nodeArgs = (process.env['PITWALL_DIRECTUS_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  // The demo stack leaves Directus running after `pitwall up` returns; any other Directus ends with its starter, also
  // when a test run is interrupted before its cleanup (see exit-with-parent.cjs).
  const lifeline = detached ? [] : ['--require', EXIT_WITH_PARENT];
  const child = spawn(process.execPath, [...nodeArgs, ...lifeline, directusCli[options.version], 'start'], {
    env: childEnv(directusEnv(options)),
    cwd: options.workDir,
    stdio: [detached ? 'ignore' : 'pipe', log, log],
    detached,
  });
  if (detached) child.unref();
  const url = `http://127.0.0.1:${options.port}`;
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (exited !== null) throw new Error(`directus exited with ${exited} before it served; see ${logFile}`);
    try {
      const res = await fetch(`${url}/server/ping`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  if (exited === null && performance.now() >= deadline) {
    child.kill('SIGKILL');
    throw new Error(`directus did not answer /server/ping within ${timeoutMs} ms; see ${logFile}`);
  }
  return {
    url,
    process: child,
    logFile,
    stop: () =>
      new Promise<void>((resolveStop) => {
        if (child.exitCode !== null) return resolveStop();
        // A detached child was unref'd: awaiting its exit must keep this process alive until it comes.
        child.ref();
        child.once('exit', () => resolveStop());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
