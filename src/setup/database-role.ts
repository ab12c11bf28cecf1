import type { Knex } from 'knex';
import pg, { type ClientBase } from 'pg';

/**
 * The Postgres role the processor and the job runner connect as: not the owner of Directus's tables (who can read
 * users and tokens, and change any table), but a login role granted what those two processes do, table by table.
 * Setup (which connects as the owner) creates it, keeps its password, and re-applies its grants on every run, so
 * tables of later migrations get theirs and privileges nobody declares here are taken back.
 */
export const DEFAULT_DATABASE_ROLE = 'pitwall_processor';

export interface DatabaseRole {
  name: string;
  password: string;
}

type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

interface TableGrant {
  table: string;
  privileges: Privilege[];
  /** Columns it may UPDATE, where it may not update the whole row. */
  updates?: string[];
  /** The serial or identity column whose sequence an INSERT draws from. */
  sequence?: string;
}

const read = (tables: string[]): TableGrant[] => tables.map((table) => ({ table, privileges: ['SELECT'] }));

/** What the job runner writes of a run: claim, progress and heartbeat, requeue, result; the CLI's cancel. */
const runColumns = ['status', 'started_at', 'heartbeat_at', 'attempts', 'error', 'processed', 'total', 'progress', 'checkpoint', 'result', 'finished_at'];

/** Everything the processor and the job runner do in Postgres (src/store, src/processor, src/jobs). */
export const processorGrants: TableGrant[] = [
  // Telemetry: positions are only inserted (operators alone mark them faulty); decoded attributes are upserted.
  { table: 'positions', privileges: ['SELECT', 'INSERT'] },
  { table: 'decoded_attributes', privileges: ['SELECT', 'INSERT', 'UPDATE'] },
  { table: 'pitwall_outbox', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], sequence: 'id' },
  { table: 'pitwall_mapping_revisions', privileges: ['SELECT', 'INSERT'], sequence: 'revision' },
  // Each processor's own health row, for the race office's panel (upserted every few seconds, taken away when it stops).
  { table: 'pitwall_processor_status', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] },
  // The race setup (loadRaceSetup, replay scope, backfill targets), and the stored facts a replay compares with.
  ...read(['events', 'entries', 'entry_devices', 'devices', 'device_models', 'io_mappings', 'stages', 'geofences', 'waypoints', 'penalty_formulas']),
  ...read(['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies']),
  // Runs: `pitwall replay` / `backfill` queue their own run; the end goes through Directus (POST /pitwall/<kind>/:run/end).
  { table: 'replay_runs', privileges: ['SELECT', 'INSERT'], updates: runColumns },
  { table: 'backfill_runs', privileges: ['SELECT', 'INSERT'], updates: runColumns },
];

/**
 * Pitwall's tables that only the bundle uses, through Directus's own connection: never granted. Rows of pending race
 * events are published as the system, so a role that could write them could forge what integrators receive.
 */
export const bundleOnlyTables = ['pitwall_pending_events', 'pitwall_fact_versions', 'pitwall_webhook_chains', 'pitwall_migrations', 'pitwall_migrations_lock'];

/** Thrown when the role cannot be made what it must be (a wrong name, a role that owns tables, a login refused). */
export class DatabaseRoleError extends Error {
  override name = 'DatabaseRoleError';
}

/** The URL the processor and job runner use: `databaseUrl` (setup's) with the role's name and password. */
export function databaseRoleUrl(databaseUrl: string, role: DatabaseRole): string {
  const url = new URL(databaseUrl);
  url.username = encodeURIComponent(role.name);
  url.password = encodeURIComponent(role.password);
  return url.toString();
}

/**
 * Creates or corrects the role and its grants; returns what it changed (nothing when all is in place). `databaseUrl`
 * is setup's own connection, used to check that the role can log in with its password.
 */
export async function ensureDatabaseRole(db: Knex, role: DatabaseRole, databaseUrl: string): Promise<string[]> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role.name)) throw new DatabaseRoleError(`database role name "${role.name}": use lower-case letters, digits and underscores`);
  const done: string[] = [];
  const { rows: me } = await db.raw('SELECT current_user AS name');
  if (me[0].name === role.name) throw new DatabaseRoleError(`the processor's database role must not be the user setup connects as (${role.name})`);

  done.push(...(await ensureLogin(db, role)));
  const owned = await db.raw(`SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = ? LIMIT 3`, [role.name]);
  if (owned.rows.length > 0) {
    throw new DatabaseRoleError(
      `database role ${role.name} owns tables in this database (${owned.rows.map((r: { relname: string }) => r.relname).join(', ')}): an owner can do anything to them; give them to the owner of Directus's tables`,
    );
  }
  if (!(await canLogIn(databaseRoleUrl(databaseUrl, role)))) {
    await execute(db, `ALTER ROLE ${ident(role.name)} PASSWORD ${literal(role.password)}`);
    done.push(`set the password of database role ${role.name}`);
    const error = await loginError(databaseRoleUrl(databaseUrl, role));
    if (error) throw new DatabaseRoleError(`database role ${role.name} cannot log in: ${error}`);
  }
  done.push(...(await db.transaction((trx) => applyGrants(trx, role.name))));
  return done;
}

/** The role exists with LOGIN and none of the powers a processor has no use for, and belongs to no other role. */
async function ensureLogin(db: Knex, role: DatabaseRole): Promise<string[]> {
  const attributes = 'LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
  const existing = async () =>
    (await db.raw('SELECT rolcanlogin, rolinherit, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = ?', [role.name])).rows[0];
  let found = await existing();
  if (!found) {
    try {
      await execute(db, `CREATE ROLE ${ident(role.name)} ${attributes} PASSWORD ${literal(role.password)}`);
      return [`create database role ${role.name}`];
    } catch (error) {
      // Roles belong to the whole server: a setup of another database may have created it a moment ago.
      if ((error as { code?: string }).code !== '42710') throw error;
      found = await existing();
    }
  }
  const done: string[] = [];
  const { rolcanlogin, rolinherit, ...powers } = found;
  if (!rolcanlogin || rolinherit || Object.values(powers).some(Boolean)) {
    await execute(db, `ALTER ROLE ${ident(role.name)} ${attributes}`);
    done.push(`reset the attributes of database role ${role.name} (${attributes})`);
  }
  const memberships = await db.raw(
    'SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = ?',
    [role.name],
  );
  for (const { rolname } of memberships.rows as { rolname: string }[]) {
    await execute(db, `REVOKE ${ident(rolname)} FROM ${ident(role.name)}`);
    done.push(`remove database role ${role.name} from role ${rolname}`);
  }
  return done;
}

type Grant = { kind: 'table' | 'sequence' | 'column'; on: string; column?: string; privilege: string };
const keyOf = (g: Grant) => `${g.kind} ${g.on} ${g.column ?? ''} ${g.privilege}`;

/** Grants what processorGrants declares and revokes what else the role holds in this schema, in one transaction. */
async function applyGrants(trx: Knex.Transaction, roleName: string): Promise<string[]> {
  const done: string[] = [];
  for (const [privilege, object, sql] of [
    ['CONNECT', 'database', `GRANT CONNECT ON DATABASE ${ident(await value(trx, 'current_database()'))}`],
    ['TEMPORARY', 'database', `GRANT TEMPORARY ON DATABASE ${ident(await value(trx, 'current_database()'))}`],
    ['USAGE', 'schema', `GRANT USAGE ON SCHEMA ${ident(await value(trx, 'current_schema()'))}`],
  ] as const) {
    const check = object === 'database' ? 'has_database_privilege(?, current_database(), ?)' : 'has_schema_privilege(?, current_schema(), ?)';
    // Usually held through PUBLIC already; granted when an operator has taken that away.
    if ((await trx.raw(`SELECT ${check} AS ok`, [roleName, privilege])).rows[0].ok) continue;
    await execute(trx, `${sql} TO ${ident(roleName)}`);
    done.push(`grant ${roleName} ${privilege} on the ${object}`);
  }

  const wanted: Grant[] = [];
  for (const grant of processorGrants) {
    if (!(await exists(trx, grant.table))) continue;
    for (const privilege of grant.privileges) wanted.push({ kind: 'table', on: grant.table, privilege });
    for (const column of grant.updates ?? []) {
      if (await columnExists(trx, grant.table, column)) wanted.push({ kind: 'column', on: grant.table, column, privilege: 'UPDATE' });
    }
    if (grant.sequence) {
      const sequence = (await trx.raw('SELECT pg_get_serial_sequence(?, ?) AS name', [grant.table, grant.sequence])).rows[0].name as string | null;
      if (sequence) wanted.push({ kind: 'sequence', on: sequence.split('.').pop()!.replace(/^"|"$/g, ''), privilege: 'USAGE' });
    }
  }
  const held = await heldGrants(trx, roleName);
  const heldKeys = new Set(held.map(keyOf));
  const wantedKeys = new Set(wanted.map(keyOf));
  const missing = wanted.filter((g) => !heldKeys.has(keyOf(g)));
  const excess = held.filter((g) => !wantedKeys.has(keyOf(g)));

  for (const grants of groupBy(missing)) {
    await execute(trx, `GRANT ${privilegesSql(grants)} ON ${objectSql(grants)} TO ${ident(roleName)}`);
    done.push(`grant ${roleName} ${privilegesText(grants)} on ${grants[0]!.on}`);
  }
  for (const grants of groupBy(excess)) {
    await execute(trx, `REVOKE ${privilegesSql(grants)} ON ${objectSql(grants)} FROM ${ident(roleName)}`);
    done.push(`revoke ${privilegesText(grants)} on ${grants[0]!.on} from ${roleName}`);
  }
  return done;
}

/** What the role holds directly on tables, sequences and columns of this schema. */
async function heldGrants(trx: Knex.Transaction, roleName: string): Promise<Grant[]> {
  const { rows: objects } = await trx.raw(
    `SELECT c.relname AS on, c.relkind AS relkind, a.privilege_type AS privilege
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
      WHERE n.nspname = current_schema() AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = ?)`,
    [roleName],
  );
  const { rows: columns } = await trx.raw(
    `SELECT c.relname AS on, att.attname AS column, a.privilege_type AS privilege
       FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(att.attacl) a
      WHERE n.nspname = current_schema() AND NOT att.attisdropped AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = ?)`,
    [roleName],
  );
  return [
    ...(objects as { on: string; relkind: string; privilege: string }[]).map((o): Grant => ({ kind: o.relkind === 'S' ? 'sequence' : 'table', on: o.on, privilege: o.privilege })),
    ...(columns as { on: string; column: string; privilege: string }[]).map((c): Grant => ({ kind: 'column', on: c.on, column: c.column, privilege: c.privilege })),
  ];
}

/** Pitwall's tables in this schema that neither processorGrants nor bundleOnlyTables names (so nobody decided). */
export async function unclassifiedTables(db: Knex): Promise<string[]> {
  const { rows } = await db.raw(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'pitwall\\_%' ORDER BY 1`);
  const known = new Set([...processorGrants.map((g) => g.table), ...bundleOnlyTables]);
  return (rows as { tablename: string }[]).map((r) => r.tablename).filter((t) => !known.has(t));
}

/** One statement per object and kind: the table's own privileges, its column privileges, a sequence's. */
function groupBy(grants: Grant[]): Grant[][] {
  const groups = new Map<string, Grant[]>();
  for (const g of grants) {
    const key = g.kind === 'column' ? `column ${g.on} ${g.privilege}` : `${g.kind} ${g.on}`;
    groups.set(key, [...(groups.get(key) ?? []), g]);
  }
  return [...groups.values()];
}

const privilegesSql = (grants: Grant[]) =>
  grants[0]!.kind === 'column' ? `${grants[0]!.privilege} (${grants.map((g) => ident(g.column!)).join(', ')})` : grants.map((g) => g.privilege).join(', ');
const privilegesText = (grants: Grant[]) =>
  grants[0]!.kind === 'column' ? `${grants[0]!.privilege} (${grants.map((g) => g.column).join(', ')})` : grants.map((g) => g.privilege).join(', ');
const objectSql = (grants: Grant[]) => `${grants[0]!.kind === 'sequence' ? 'SEQUENCE' : 'TABLE'} ${ident(grants[0]!.on)}`;

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (text: string) => pg.escapeLiteral(text);
const value = async (db: Knex, expression: string): Promise<string> => (await db.raw(`SELECT ${expression} AS value`)).rows[0].value;
const exists = async (db: Knex, table: string) => (await db.raw('SELECT to_regclass(?) IS NOT NULL AS ok', [table])).rows[0].ok as boolean;
const columnExists = async (db: Knex, table: string, column: string) =>
  (await db.raw('SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?', [table, column])).rows.length > 0;

/**
 * Role statements take no bind parameters, so names and the password are escaped by pg and the statement is sent as
 * it is, on the connection (or transaction) given: knex would read a `?` in a password as a placeholder.
 */
async function execute(db: Knex, sql: string): Promise<void> {
  const connection = (await db.client.acquireConnection()) as ClientBase;
  try {
    await connection.query(sql);
  } finally {
    await db.client.releaseConnection(connection);
  }
}

async function loginError(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const canLogIn = async (url: string) => (await loginError(url)) === null;
