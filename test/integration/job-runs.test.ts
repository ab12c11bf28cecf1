import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoId, demoImei } from '../../src/demo/demo-race.ts';
import { insertPositions } from '../../src/store/positions.ts';
import { loadJobsConfig } from '../../src/jobs/jobs-config.ts';
import { JobsService } from '../../src/jobs/jobs-service.ts';
import { requeueInterrupted } from '../../src/jobs/run-store.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { freePort } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const event = demoId('event');
const stage = demoId('stage:ss1');
const model = demoId('model:FMB920');

/**
 * Replay and backfill runs through their HTTP API, the Flow operation and the job runner, against the real
 * Directus: who may start them, bad bodies, progress to the end, cancel, and runs a dead runner left behind.
 */
describe('replay and backfill runs', () => {
  let token: string;
  let db: Knex;
  let jobs: JobsService | null = null;
  const created: { table: string; id: string }[] = [];
  const flows: string[] = [];

  const startRunner = async (env: Record<string, string> = {}, log = pino({ level: 'silent' })) => {
    jobs = new JobsService(
      loadJobsConfig({ DATABASE_URL: stack.databaseUrl, DIRECTUS_URL: stack.directusUrl, DIRECTUS_TOKEN: stack.processorToken, METRICS_PORT: String(await freePort()), JOBS_POLL_MS: '200', ...env }),
      log,
    );
    await jobs.start();
  };
  const stopRunner = async () => {
    await jobs?.close();
    jobs = null;
  };
  const queue = async (kind: 'replay' | 'backfill', body: unknown) => {
    const res = await call(stack, `/pitwall/${kind}`, { token, body });
    expect(res.status, res.text).toBe(202);
    created.push({ table: `${kind}_runs`, id: res.json.run.id });
    return res.json.run;
  };
  const ended = (kind: string, id: string) =>
    waitFor(async () => {
      const { json } = await call(stack, `/pitwall/${kind}/${id}`, { token });
      return ['succeeded', 'failed', 'cancelled'].includes(json.run.status) ? json.run : undefined;
    }, { timeoutMs: 60_000, what: `${kind} run ${id} to end` });
  /** A user of the Race Control role (may read and create replay runs, not backfills), to be removed afterwards. */
  const raceControlUser = async () => {
    const roles = await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token });
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `race-control-${randomUUID().slice(0, 8)}@pitwall.example.com`, role: roles.json.data[0].id, token: userToken, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    return { userToken, removeUser: () => call(stack, `/users/${user.json.data.id}`, { token, method: 'DELETE' }) };
  };
  const eventsOfRun = (id: string) => db('race_events').whereRaw(`payload->>'run' = ?`, [id]).select('type', 'source', 'payload');

  beforeAll(async () => {
    token = await adminToken(stack);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
  });

  afterAll(async () => {
    await stopRunner();
    for (const id of flows) await call(stack, `/flows/${id}`, { token, method: 'DELETE' });
    for (const { table, id } of created) await db(table).where({ id }).delete();
    await db('race_events').whereIn('type', ['replay.completed', 'backfill.completed']).whereRaw(`payload->>'run' = ANY(?)`, [created.map((c) => c.id)]).delete();
    await db.destroy();
  });

  it('answers 401 to anonymous callers and 403 to users who may not start runs', async () => {
    for (const kind of ['replay', 'backfill']) {
      expect((await call(stack, `/pitwall/${kind}`, { body: { event, mode: 'preview' } })).status).toBe(401);
      expect((await call(stack, `/pitwall/${kind}/${randomUUID()}`)).status).toBe(401);
    }
    for (const path of ['/pitwall/replay', '/pitwall/race-setup', `/pitwall/race-setup/${event}/entries`]) expect((await call(stack, path)).status).toBe(401);
    // The processor's user may not create runs.
    const replay = await call(stack, '/pitwall/replay', { token: stack.processorToken, body: { event, mode: 'preview' } });
    expect(replay.status).toBe(403);
    const backfill = await call(stack, '/pitwall/backfill', { token: stack.processorToken, body: { model, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' } });
    expect(backfill.status).toBe(403);
    // 403 before the body is looked at: a bad one, or a stage of another event, tells such a caller nothing.
    for (const body of [{}, { event: randomUUID(), stage, mode: 'preview' }]) expect((await call(stack, '/pitwall/replay', { token: stack.processorToken, body })).status).toBe(403);
    expect((await call(stack, '/pitwall/backfill', { token: stack.processorToken, body: { model: randomUUID() } })).status).toBe(403);
    expect(await db('replay_runs').count('* as n').first()).toMatchObject({ n: expect.anything() });
  });

  it('answers 400 naming the wrong field', async () => {
    const badMode = await call(stack, '/pitwall/replay', { token, body: { event, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', mode: 'fast' } });
    expect(badMode.status).toBe(400);
    expect(JSON.stringify(badMode.json.errors[0].extensions.issues)).toContain('"mode"');
    // A JSON body sent as text (a form, curl -d without a header) is named as such, not as a body without fields.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const asText = await call(stack, '/pitwall/replay', { token, body: { event, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', mode: 'preview' }, headers: { 'content-type': type } });
      expect(asText.status, asText.text).toBe(400);
      expect(asText.json.errors[0].extensions.reason).toBe(`body: send it as JSON, with Content-Type: application/json (got ${type})`);
    }
    const reversed = await call(stack, '/pitwall/backfill', { token, body: { model, from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' } });
    expect(reversed.status).toBe(400);
    expect(reversed.json.errors[0].extensions.reason).toMatch(/to/);
    const both = await call(stack, '/pitwall/backfill', { token, body: { model, devices: ['1'], from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' } });
    expect(both.status).toBe(400);
    // Devices that do not exist are refused when the run is asked for, not when it runs.
    const range = { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' };
    const noModel = await call(stack, '/pitwall/backfill', { token, body: { model: 'FMB999', ...range } });
    expect(noModel.status).toBe(400);
    expect(noModel.json.errors[0].extensions.reason).toBe('model: no device model "FMB999" (give a device_models id or name)');
    const byName = await call(stack, '/pitwall/backfill', { token, body: { model: 'FMB920', ...range } });
    expect(byName.status).toBe(202);
    created.push({ table: 'backfill_runs', id: byName.json.run.id });
    // Not for a runner of the tests below.
    expect((await call(stack, `/pitwall/backfill/${byName.json.run.id}/cancel`, { token, method: 'POST' })).json.run.status).toBe('cancelled');
    const [known] = await db('devices').whereRaw('model::text = ?', [model]).pluck('imei');
    const noDevices = await call(stack, '/pitwall/backfill', { token, body: { devices: [known, '000000000000001', 'nope'], ...range } });
    expect(noDevices.status).toBe(400);
    expect(noDevices.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path.join('.'))).toEqual(['devices.1', 'devices.2']);
    expect(await db('backfill_runs').whereRaw(`params->>'model' = 'FMB999' OR params::text LIKE '%"nope"%'`).count('* as n').first()).toMatchObject({ n: '0' });
    // Thirty unknown trackers: twenty are named, the answer says how many more (10,000 made a 2 MB answer).
    const many = await call(stack, '/pitwall/backfill', { token, body: { devices: Array.from({ length: 30 }, (_, i) => `9${String(i).padStart(14, '0')}`), ...range } });
    expect(many.status, many.text).toBe(400);
    expect(many.json.errors[0].extensions.issues).toHaveLength(21);
    expect(many.json.errors[0].extensions.issues[20]).toEqual({ code: 'custom', path: [], message: 'and 10 more issues like these' });
    // A NUL, which Postgres cannot take, is refused naming the field (it was a 500 that showed the query).
    const nuls = [
      ['/pitwall/backfill', { devices: ['\u0000'], ...range }, 'devices.0'],
      ['/pitwall/backfill', { model: 'F\u0000B', ...range }, 'model'],
      ['/pitwall/replay', { stage, mode: 'preview', devices: ['35\u0000'] }, 'devices.0'],
      ['/items/backfill_runs', { params: { devices: ['\u0000'], ...range } }, 'params.devices.0'],
    ] as const;
    for (const [path, body, field] of nuls) {
      const nul = await call(stack, path, { token, body });
      expect(nul.status, `${path} ${nul.text}`).toBe(400);
      expect(JSON.stringify(nul.json.errors[0]), path).toContain(field);
      expect(nul.text, path).not.toMatch(/select|insert/i);
    }
    // A stage of another event than the one named.
    const other = await call(stack, '/items/events', { token, body: { name: 'Other rally', slug: `other-rally-${randomUUID().slice(0, 8)}`, starts_at: range.from, ends_at: range.to, status: 'running' } });
    expect(other.status).toBe(200);
    created.push({ table: 'events', id: other.json.data.id });
    const foreignStage = await call(stack, '/pitwall/replay', { token, body: { event: other.json.data.id, stage, mode: 'preview' } });
    expect(foreignStage.status).toBe(400);
    expect(foreignStage.json.errors[0].extensions.reason).toBe(`stage: stage ${stage} is a stage of another event than ${other.json.data.id}`);
    // Entries and trackers that do not exist, or entries of another event than the stage's, are refused when the
    // run is asked for: the run would replay nothing for them, or fail blaming the stage.
    const [entry] = await db('entries').where({ event }).pluck('id');
    const foreignEntry = await call(stack, '/items/entries', { token, body: { event: other.json.data.id, race_number: 901, name: 'Elsewhere' } });
    expect(foreignEntry.status, foreignEntry.text).toBe(200);
    const unknownEntry = randomUUID();
    const targets = await call(stack, '/pitwall/replay', { token, body: { stage, mode: 'preview', entries: [entry, unknownEntry, foreignEntry.json.data.id], devices: [known, '000'] } });
    expect(targets.status, targets.text).toBe(400);
    expect(targets.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path.join('.'))).toEqual(['entries.1', 'entries.2', 'devices.1']);
    expect(targets.json.errors[0].extensions.reason).toBe(
      `entries.1: no entry ${unknownEntry}; entries.2: entry ${foreignEntry.json.data.id} is an entry of another event than ${event}; devices.1: no device with IMEI "000"`,
    );
    // A candidate line of a stage that does not exist, or of another event's stage: the run failed once it ran.
    const line = (lineStage: string) => ({ stage: lineStage, name: 'Moved finish', kind: 'finish_line', geometry: { type: 'LineString', coordinates: [[-4.1, 31.4], [-4.1, 31.41]] } });
    const [otherStage] = await db('stages').whereNot({ event }).limit(1).pluck('id');
    const lines = await call(stack, '/pitwall/replay', { token, body: { stage, mode: 'preview', geofences: [line(stage), line(unknownEntry), ...(otherStage ? [line(otherStage)] : [])] } });
    expect(lines.status, lines.text).toBe(400);
    expect(lines.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path.join('.'))).toEqual(['geofences.1.stage', ...(otherStage ? ['geofences.2.stage'] : [])]);
    // A row standing for a stored line of another stage of the event, or a line named twice: the run failed with
    // "duplicate gate id" once it ran.
    const [elsewhere] = await db('geofences').join('stages', 'stages.id', 'geofences.stage').where('stages.event', event).whereNot('geofences.stage', stage).limit(1).pluck('geofences.id');
    const [own] = await db('geofences').where({ stage }).limit(1).pluck('id');
    const twice = await call(stack, '/pitwall/replay', { token, body: { stage, mode: 'preview', geofences: [{ ...line(stage), id: elsewhere }, { ...line(stage), id: own }, { ...line(stage), id: own }] } });
    expect(twice.status, twice.text).toBe(400);
    expect(twice.json.errors[0].extensions.issues.map((issue: { path: string[]; message: string }) => [issue.path.join('.'), issue.message])).toEqual([
      ['geofences.0.id', expect.stringMatching(/^geofence .* is a line of stage .*, not of stage /)],
      ['geofences.2.id', `geofence ${own} is named by an earlier row of the layout`],
    ]);
    const fine = await call(stack, '/pitwall/replay', { token, body: { stage, mode: 'preview', entries: [entry], devices: [known] } });
    expect(fine.status, fine.text).toBe(202);
    created.push({ table: 'replay_runs', id: fine.json.run.id });
    expect((await call(stack, `/pitwall/replay/${fine.json.run.id}/cancel`, { token, method: 'POST' })).json.run.status).toBe('cancelled');
    // A stage or event that does not exist is what is wrong, not the range it would have given.
    const missing = randomUUID();
    const noStage = await call(stack, '/pitwall/replay', { token, body: { stage: missing, mode: 'preview' } });
    expect(noStage.status).toBe(400);
    expect(noStage.json.errors[0].extensions.reason).toBe(`stage: no stage ${missing}`);
    const noEvent = await call(stack, '/pitwall/replay', { token, body: { event: missing, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', mode: 'preview' } });
    expect(noEvent.status).toBe(400);
    expect(noEvent.json.errors[0].extensions.reason).toBe(`event: no event ${missing}`);
    // With what else is wrong in what the caller gave, but not the range the missing event would have given.
    const noEventAndMore = await call(stack, '/pitwall/replay', { token, body: { event: missing, from: 'yesterday', mode: 'fast' } });
    expect(noEventAndMore.status).toBe(400);
    expect(noEventAndMore.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path.join('.'))).toEqual(['event', 'from', 'mode']);
    expect(noEventAndMore.json.errors[0].extensions.reason).toMatch(new RegExp(`^event: no event ${missing}; from: .+; mode: `));
  });

  it('checks a run queued through /items as the endpoint checks it, and stores the params the endpoint would', async () => {
    const items = (body: unknown, as = token) => call(stack, '/items/replay_runs', { token: as, body });
    const paths = (res: { json: any }) => res.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path);
    const byItems = await items({ status: 'queued', params: { mode: 'preview', stage } });
    expect(byItems.status, byItems.text).toBe(200);
    created.push({ table: 'replay_runs', id: byItems.json.data.id });
    const byEndpoint = await queue('replay', { mode: 'preview', stage });
    // A stage implies its event and its window is the range: the runner would otherwise fail it ("name what to replay").
    const ss1 = await db('stages').where({ id: stage }).first('opens_at', 'closes_at');
    const stored = (await db('replay_runs').where({ id: byItems.json.data.id }).first('params')).params;
    expect(stored).toEqual(byEndpoint.params);
    expect(stored).toMatchObject({ stage, event, from: new Date(ss1.opens_at).toISOString(), to: new Date(ss1.closes_at).toISOString() });
    for (const id of [byItems.json.data.id, byEndpoint.id]) expect((await call(stack, `/pitwall/replay/${id}/cancel`, { token, method: 'POST' })).json.run.status).toBe('cancelled');

    const count = async () => (await db('replay_runs').count('* as n').first())!.n;
    const before = await count();
    const garbage = await items({ status: 'queued', params: { stage: 'garbage' } });
    expect(garbage.status, garbage.text).toBe(400);
    expect(paths(garbage)).toContainEqual(['params', 'stage']);
    expect(paths(garbage).every((path: string[]) => path[0] === 'params')).toBe(true);
    const hello = await items({ status: 'queued', params: 'hello' });
    expect(hello.status, hello.text).toBe(400);
    expect(paths(hello)).toEqual([['params']]);
    const succeeded = await items({ status: 'succeeded', params: { mode: 'preview', stage } });
    expect(succeeded.status, succeeded.text).toBe(400);
    expect(paths(succeeded)).toEqual([['status']]);
    const withResult = await items({ params: { mode: 'preview', stage }, result: { x: 1 } });
    expect(withResult.status, withResult.text).toBe(400);
    expect(paths(withResult)).toEqual([['result']]);
    const noModel = await call(stack, '/items/backfill_runs', { token, body: { params: { model: 'FMB999', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' } } });
    expect(noModel.status, noModel.text).toBe(400);
    expect(paths(noModel)).toEqual([['params', 'model']]);
    expect(await count()).toBe(before);

    // Race Control: a preview is completed as the admin's; malformed params get the 400 naming them; apply stays 403.
    const { userToken, removeUser } = await raceControlUser();
    try {
      const preview = await items({ params: { mode: 'preview', stage } }, userToken);
      expect(preview.status, preview.text).toBe(200);
      created.push({ table: 'replay_runs', id: preview.json.data.id });
      expect(preview.json.data.params).toEqual(byEndpoint.params);
      await call(stack, `/pitwall/replay/${preview.json.data.id}/cancel`, { token, method: 'POST' });
      const malformed = await items({ status: 'queued', params: 'hello' }, userToken);
      expect(malformed.status, malformed.text).toBe(400);
      expect(paths(malformed)).toEqual([['params']]);
      const apply = await items({ status: 'queued', params: { mode: 'apply', stage } }, userToken);
      expect(apply.status, apply.text).toBe(403);
      expect(apply.json.errors[0].message).toMatch(/Only admins may start a replay in apply mode/);
    } finally {
      await removeUser();
    }
    expect(await count()).toBe(String(Number(before) + 1));
  });

  it("changes a queued run's params only to params the endpoint accepts, a started or ended run's not at all, and no run's key", async () => {
    const patch = (id: string, body: unknown) => call(stack, `/items/replay_runs/${id}`, { token, method: 'PATCH', body });
    const paths = (res: { json: any }) => res.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path);
    const run = await queue('replay', { mode: 'preview', event, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z' });
    const garbage = await patch(run.id, { params: { stage: 'garbage' } });
    expect(garbage.status, garbage.text).toBe(400);
    expect(paths(garbage)).toContainEqual(['params', 'stage']);
    const key = await patch(run.id, { request_key: 'another-key' });
    expect(key.status, key.text).toBe(400);
    expect(paths(key)).toEqual([['request_key']]);
    expect((await db('replay_runs').where({ id: run.id }).first('params')).params).toEqual(run.params);
    // A stage named in a change implies its event and window, as in a new run.
    const ss1 = await db('stages').where({ id: stage }).first('opens_at', 'closes_at');
    const moved = await patch(run.id, { params: { mode: 'preview', stage } });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.json.data.params).toMatchObject({ stage, event, from: new Date(ss1.opens_at).toISOString(), to: new Date(ss1.closes_at).toISOString() });
    await call(stack, `/pitwall/replay/${run.id}/cancel`, { token, method: 'POST' });
    // Cancelled, its params are the record of what it was asked to do: not even an admin rewrites them.
    const afterEnd = await patch(run.id, { params: { mode: 'preview', stage, from: ss1.opens_at, to: ss1.opens_at } });
    expect(afterEnd.status, afterEnd.text).toBe(400);
    expect(paths(afterEnd)).toEqual([['params']]);
    expect(afterEnd.json.errors[0].message).toMatch(/is cancelled, no longer queued/);
  });

  it('answers 404 PITWALL_RUN_NOT_FOUND for a run that does not exist, to callers who may read runs', async () => {
    const notFound = (res: { status: number; json: any; text: string }) => {
      expect(res.status, res.text).toBe(404);
      expect(res.json.errors[0].extensions.code).toBe('PITWALL_RUN_NOT_FOUND');
    };
    for (const kind of ['replay', 'backfill']) {
      const missing = randomUUID();
      notFound(await call(stack, `/pitwall/${kind}/${missing}`, { token }));
      notFound(await call(stack, `/pitwall/${kind}/${missing}/cancel`, { token, method: 'POST' }));
      // The processor's user may read no runs (it records their end through its own route): still 403, as Directus says.
      expect((await call(stack, `/pitwall/${kind}/${missing}`, { token: stack.processorToken })).status).toBe(403);
    }
    // Race Control reads replays, not backfills.
    const { userToken, removeUser } = await raceControlUser();
    try {
      const missing = randomUUID();
      notFound(await call(stack, `/pitwall/replay/${missing}`, { token: userToken }));
      notFound(await call(stack, `/pitwall/replay/${missing}/cancel`, { token: userToken, method: 'POST' }));
      expect((await call(stack, `/pitwall/backfill/${missing}`, { token: userToken })).status).toBe(403);
      // A run that exists but is not theirs to read stays 403 too.
      const backfill = await queue('backfill', { model, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' });
      await call(stack, `/pitwall/backfill/${backfill.id}/cancel`, { token, method: 'POST' });
      expect((await call(stack, `/pitwall/backfill/${backfill.id}`, { token: userToken })).status).toBe(403);
    } finally {
      await removeUser();
    }
  });

  it('answers 400 naming the parameter for an id in the URL that is no uuid', async () => {
    const named = (res: { status: number; json: any; text: string }, name: string) => {
      expect(res.status, res.text).toBe(400);
      expect(res.json.errors[0].extensions.code).toBe('INVALID_PAYLOAD');
      expect(res.json.errors[0].extensions.reason).toMatch(new RegExp(`^${name}: `));
      expect(res.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path)).toEqual([[name]]);
    };
    for (const kind of ['replay', 'backfill']) {
      named(await call(stack, `/pitwall/${kind}/abc`, { token }), 'run');
      named(await call(stack, `/pitwall/${kind}/abc/cancel`, { token, method: 'POST' }), 'run');
      named(await call(stack, `/pitwall/${kind}/abc/cancel?force=true`, { token, method: 'POST' }), 'run');
      named(await call(stack, `/pitwall/${kind}/abc/end`, { token, body: { status: 'succeeded' } }), 'run');
    }
    named(await call(stack, '/pitwall/race-setup/abc/entries', { token }), 'event');
    named(await call(stack, `/pitwall/race-setup/${event}x/entries`, { token }), 'event');
    // Query parameters that are neither what they say nor absent: "maybe" was no force, -1 one run and 0 twenty.
    const maybe = await call(stack, `/pitwall/replay/${randomUUID()}/cancel?force=maybe`, { token, method: 'POST' });
    expect(maybe.status, maybe.text).toBe(400);
    expect(maybe.json.errors[0].extensions.reason).toBe('force: expected true or false, got "maybe"');
    // (Directus reads `limit` itself first, and refuses "ten" in its own words.)
    expect((await call(stack, '/pitwall/replay?limit=ten', { token })).status).toBe(400);
    for (const limit of ['-1', '0', '101']) {
      const listed = await call(stack, `/pitwall/replay?limit=${limit}`, { token });
      expect(listed.status, `${limit} ${listed.text}`).toBe(400);
      expect(listed.json.errors[0].extensions.reason).toBe(`limit: expected a whole number from 1 to 100, got "${limit}"`);
    }
    expect((await call(stack, '/pitwall/replay?limit=2', { token })).json.runs.length).toBeLessThanOrEqual(2);
    // A malformed escape, which Express refuses before any route runs (Directus answered 500).
    for (const [path, method] of [['/pitwall/replay/%ZZ', 'GET'], ['/pitwall/backfill/%ZZ', 'GET'], ['/pitwall/replay/%ZZ/cancel', 'POST'], ['/pitwall/race-setup/%ZZ/entries', 'GET'], ['/pitwall/live/%ZZ', 'GET']] as const) {
      const malformed = await call(stack, path, { token, method });
      expect(malformed.status, `${path} ${malformed.text}`).toBe(400);
      expect(malformed.json.errors[0].extensions).toMatchObject({ code: 'INVALID_PAYLOAD', reason: "path: Failed to decode param '%ZZ' (a malformed %-escape)" });
    }
    // An event that does not exist is the 404 the classification and the live map answer, not an empty list.
    const missing = await call(stack, `/pitwall/race-setup/${randomUUID()}/entries`, { token });
    expect(missing.status, missing.text).toBe(404);
    expect(missing.json.errors[0].extensions.code).toBe('PITWALL_NOT_FOUND');
    expect((await call(stack, `/pitwall/race-setup/${event}/entries`, { token })).json.entries.length).toBeGreaterThan(0);
    // In zod's own words, naming the parameter (the bundle lost them: "run: Invalid input").
    const notUuid = await call(stack, '/pitwall/replay/abc', { token });
    expect(notUuid.status, notUuid.text).toBe(400);
    expect(notUuid.json.errors[0].extensions.reason).toBe('run: Invalid UUID');
    // An id without an RFC version digit is an id Directus stores (imported ones): looked up, not refused.
    const imported = '00000000-0000-0000-0000-000000000001';
    for (const path of [`/pitwall/replay/${imported}`, `/pitwall/race-setup/${imported}/entries`]) {
      const unknown = await call(stack, path, { token });
      expect(unknown.status, `${path} ${unknown.text}`).toBe(404);
    }
    // Still 401 first for anonymous callers.
    expect((await call(stack, '/pitwall/race-setup/abc/entries')).status).toBe(401);
    expect((await call(stack, '/pitwall/replay/abc')).status).toBe(401);
  });

  it('takes ids in upper case as the ids they are, and refuses a time Postgres does not store, naming the field', async () => {
    const run = await queue('replay', { event: event.toUpperCase(), stage: stage.toUpperCase(), mode: 'preview' });
    expect(run.params).toMatchObject({ event, stage });
    expect((await call(stack, `/pitwall/replay/${run.id}/cancel`, { token, method: 'POST' })).json.run.status).toBe('cancelled');
    const yearZero = await call(stack, '/pitwall/replay', { token, body: { event, from: '0000-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', mode: 'preview' } });
    expect(yearZero.status, yearZero.text).toBe(400);
    expect(yearZero.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path.join('.'))).toEqual(['from']);
  });

  it('a run asked again with its Idempotency-Key is the same run; the key with another body is refused', async () => {
    const key = randomUUID();
    const body = { stage, mode: 'preview' };
    const post = (sent: unknown, value: string) => call(stack, '/pitwall/replay', { token, body: sent, headers: { 'idempotency-key': value } });
    const first = await post(body, key);
    expect(first.status, first.text).toBe(202);
    created.push({ table: 'replay_runs', id: first.json.run.id });
    const again = await post(body, key);
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json.run).toMatchObject({ id: first.json.run.id, status: 'queued', params: first.json.run.params });
    // Written as a structured-field string, the same key.
    expect((await post(body, `"${key}"`)).json.run.id).toBe(first.json.run.id);
    const other = await post({ event, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', mode: 'preview' }, key);
    expect(other.status, other.text).toBe(422);
    expect(other.json.errors[0].extensions.code).toBe('PITWALL_REQUEST_KEY_REUSED');
    // Two requests with a new key at once (a client's retry racing its first try): one run, both told of it.
    const raced = randomUUID();
    const [a, b] = await Promise.all([post(body, raced), post(body, raced)]);
    expect([a.status, b.status].sort(), `${a.text} ${b.text}`).toEqual([200, 202]);
    expect(a.json.run.id).toBe(b.json.run.id);
    created.push({ table: 'replay_runs', id: a.json.run.id });
    expect(await db('replay_runs').whereIn('request_key', [key, raced]).count('* as n').first()).toMatchObject({ n: '2' });
    // Without a key, every request is a run of its own, as before.
    const plain = await call(stack, '/pitwall/replay', { token, body });
    expect(plain.status).toBe(202);
    created.push({ table: 'replay_runs', id: plain.json.run.id });
    expect(plain.json.run.id).not.toBe(first.json.run.id);
    for (const bad of ['', 'x'.repeat(256), 'cl\u00e9']) {
      const res = await post(body, bad);
      expect(res.status, res.text).toBe(400);
      expect(res.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path)).toEqual([['Idempotency-Key']]);
    }
    for (const id of [first.json.run.id, a.json.run.id, plain.json.run.id]) await call(stack, `/pitwall/replay/${id}/cancel`, { token, method: 'POST' });
  });

  it('a cancelled apply emits replay.completed with status cancelled, as its cancel commits', async () => {
    for (let i = 0; i < 3; i++) {
      const run = await queue('replay', { stage, mode: 'apply' });
      const cancelled = await call(stack, `/pitwall/replay/${run.id}/cancel`, { token, method: 'POST' });
      expect(cancelled.json.run.status).toBe('cancelled');
      // The hook reads the run to build the event: read before the cancel's transaction committed, the run still
      // looked queued, and no event was emitted.
      const events = await waitFor(async () => {
        const found = await eventsOfRun(run.id);
        return found.length > 0 ? found : undefined;
      }, { timeoutMs: 5_000, what: `replay.completed of cancelled run ${run.id}` });
      expect(events).toEqual([{ type: 'replay.completed', source: 'replay', payload: expect.objectContaining({ run: run.id, status: 'cancelled' }) }]);
    }
  });

  it('a queued run waits for a runner, and a cancelled one is never worked on', async () => {
    const run = await queue('replay', { stage, mode: 'preview' });
    expect(run.status).toBe('queued');
    // The stage's window is the default range.
    const ss1 = await db('stages').where({ id: stage }).first('opens_at', 'closes_at');
    expect(run.params).toMatchObject({ stage, event, from: new Date(ss1.opens_at).toISOString(), to: new Date(ss1.closes_at).toISOString() });
    const cancelled = await call(stack, `/pitwall/replay/${run.id}/cancel`, { token, method: 'POST' });
    expect(cancelled.json.run.status).toBe('cancelled');
    await startRunner();
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect((await db('replay_runs').where({ id: run.id }).first('status', 'started_at'))).toEqual({ status: 'cancelled', started_at: null });
    // A preview emits nothing, also when cancelled.
    expect(await eventsOfRun(run.id)).toEqual([]);
  });

  it('a preview runs to the end with progress and a result, and emits nothing', async () => {
    if (!jobs) await startRunner();
    const run = await queue('replay', { event, stage, mode: 'preview' });
    const done = await ended('replay', run.id);
    expect(done).toMatchObject({ status: 'succeeded', progress: 1, error: null });
    expect(done.result).toMatchObject({ mode: 'preview', diff: { counts: expect.any(Object) } });
    expect(done.started_at).not.toBeNull();
    expect(done.finished_at).not.toBeNull();
    expect(await eventsOfRun(run.id)).toEqual([]);
    // The panel's list of earlier runs has it, without the result.
    const { json } = await call(stack, '/pitwall/replay?limit=5', { token });
    expect(json.runs[0]).toMatchObject({ id: run.id, status: 'succeeded' });
    expect(json.runs[0]).not.toHaveProperty('result');
  });

  it('an apply emits replay.completed once, with source replay', async () => {
    if (!jobs) await startRunner();
    const run = await queue('replay', { event, stage, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', mode: 'apply' });
    const done = await ended('replay', run.id);
    expect(done.status).toBe('succeeded');
    await waitFor(async () => (await eventsOfRun(run.id)).length > 0, { what: 'replay.completed' });
    const events = await eventsOfRun(run.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'replay.completed', source: 'replay', payload: { run: run.id, status: 'succeeded' } });
    // Recording the end again (a runner retrying) emits nothing new.
    await call(stack, `/items/replay_runs/${run.id}`, { token, method: 'PATCH', body: { status: 'succeeded' } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await eventsOfRun(run.id)).toHaveLength(1);
  });

  it('a backfill started from a Flow operation ends with backfill.completed', async () => {
    if (!jobs) await startRunner();
    const flow = await call(stack, '/flows', {
      token,
      body: { name: `backfill test ${randomUUID()}`, status: 'active', trigger: 'webhook', accountability: 'all', options: { method: 'POST', async: false, return: '$last' } },
    });
    flows.push(flow.json.data.id);
    const operation = await call(stack, '/operations', {
      token,
      body: { flow: flow.json.data.id, key: 'backfill', name: 'Backfill', type: 'pitwall-backfill', position_x: 19, position_y: 1, options: { model, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', wait: true, wait_timeout_s: 60 } },
    });
    await call(stack, `/flows/${flow.json.data.id}`, { token, method: 'PATCH', body: { operation: operation.json.data.id } });
    const triggered = await call(stack, `/flows/trigger/${flow.json.data.id}`, { token, body: {} });
    expect(triggered.status, triggered.text).toBe(200);
    const run = triggered.json;
    created.push({ table: 'backfill_runs', id: run.id });
    expect(run).toMatchObject({ status: 'succeeded', params: { model } });
    await waitFor(async () => (await eventsOfRun(run.id)).length > 0, { what: 'backfill.completed' });
    expect(await eventsOfRun(run.id)).toEqual([{ type: 'backfill.completed', source: 'backfill', payload: expect.objectContaining({ run: run.id, status: 'succeeded' }) }]);
  });

  it('a replay preview does not wait behind a backfill that is still running', async () => {
    await stopRunner();
    // A demo tracker's fixes on a day of their own, and their decoded rows held back by a lock while the backfill
    // writes: the backfill stays running for as long as the test holds it.
    const device = demoImei(1);
    const day = Date.parse('2021-06-01T08:00:00Z');
    const fixes = Array.from({ length: 20 }, (_, i) => ({ deviceId: device, ts: day + i * 1000, latitude: 45.1, longitude: 6.2, altitude: 1200, angle: 90, speed: 60, satellites: 11, priority: 0 as const, codec: '8E' as const, attributes: { '239': 1, '240': 1 } }));
    await insertPositions(db, fixes);
    const locker = await db.transaction();
    try {
      const backfill = await queue('backfill', { model, from: '2021-06-01T00:00:00Z', to: '2021-06-02T00:00:00Z' });
      await locker.raw('LOCK TABLE decoded_attributes IN SHARE MODE');
      await startRunner();
      await waitFor(async () => (await db('backfill_runs').where({ id: backfill.id }).first('status')).status === 'running' || undefined, { what: 'the backfill running' });
      const preview = await queue('replay', { event, stage, mode: 'preview' });
      expect(await ended('replay', preview.id)).toMatchObject({ status: 'succeeded' });
      expect(await db('backfill_runs').where({ id: backfill.id }).first('status')).toEqual({ status: 'running' });
      await locker.commit();
      expect(await ended('backfill', backfill.id)).toMatchObject({ status: 'succeeded', result: expect.objectContaining({ rows: 20 }) });
    } finally {
      if (!locker.isCompleted()) await locker.rollback();
      await db('decoded_attributes').where({ device_id: device }).whereBetween('ts', [new Date(day), new Date(day + 60_000)]).delete();
      await db('positions').where({ device_id: device }).whereBetween('ts', [new Date(day), new Date(day + 60_000)]).delete();
    }
  });

  it('a run left running by a dead runner is resumed, and failed after too many interruptions', async () => {
    await stopRunner();
    const params = { model, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' };
    const stale = new Date(Date.now() - 3_600_000);
    const [resumable] = await db('backfill_runs').insert({ id: randomUUID(), status: 'running', params: JSON.stringify(params), attempts: 1, heartbeat_at: stale, started_at: stale }).returning('id');
    const [exhausted] = await db('backfill_runs').insert({ id: randomUUID(), status: 'running', params: JSON.stringify(params), attempts: 3, heartbeat_at: stale, started_at: stale }).returning('id');
    created.push({ table: 'backfill_runs', id: resumable.id }, { table: 'backfill_runs', id: exhausted.id });
    await startRunner({ JOBS_STALE_MS: '1000' });
    const resumed = await ended('backfill', resumable.id);
    expect(resumed.status).toBe('succeeded');
    expect(await db('backfill_runs').where({ id: resumable.id }).first('attempts')).toEqual({ attempts: 2 });
    const failed = await ended('backfill', exhausted.id);
    expect(failed).toMatchObject({ status: 'failed', error: expect.stringMatching(/interrupted 3 times/) });
  });
  it("a runner's own run whose heartbeat stopped while its end is being recorded is not taken for interrupted", async () => {
    await stopRunner(); // no other runner's search for interrupted runs beside this one
    const params = { model, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' };
    const stale = new Date(Date.now() - 3_600_000);
    const rows = await db('backfill_runs').insert([1, 2].map(() => ({ id: randomUUID(), status: 'running', params: JSON.stringify(params), attempts: 1, heartbeat_at: stale, started_at: stale }))).returning('id');
    const [own, lost] = rows.map((r: { id: string }) => r.id);
    created.push({ table: 'backfill_runs', id: own! }, { table: 'backfill_runs', id: lost! });
    expect(await requeueInterrupted(db, 'backfill', 1000, 3, [own!])).toEqual([]);
    const statuses = Object.fromEntries((await db('backfill_runs').whereIn('id', [own!, lost!]).select('id', 'status')).map((r) => [r.id, r.status]));
    expect(statuses).toEqual({ [own!]: 'running', [lost!]: 'queued' });
    await db('backfill_runs').whereIn('id', [own!, lost!]).update({ status: 'cancelled' });
  });

  it('a runner told to stop while Directus cannot record a run\'s end lets go at once, and the run is done again later', async () => {
    await stopRunner();
    const params = { model, from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' };
    const [run] = await db('backfill_runs').insert({ id: randomUUID(), status: 'queued', params: JSON.stringify(params) }).returning('id');
    created.push({ table: 'backfill_runs', id: run.id });
    // Nothing listens on this port: the engine's work goes to Postgres, but its end cannot reach Directus.
    const said: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void said.push(JSON.parse(line).msg) });
    await startRunner({ DIRECTUS_URL: `http://127.0.0.1:${await freePort()}` }, log);
    await waitFor(async () => said.includes('recording the end of a run failed; will retry'), { timeoutMs: 30_000, intervalMs: 100, what: 'the backfill to be done but not recorded' });
    const stopping = performance.now();
    await stopRunner();
    expect(performance.now() - stopping).toBeLessThan(5000);
    expect(await db('backfill_runs').where({ id: run.id }).first('status')).toEqual({ status: 'running' });
    expect(said).toContain('stopping before Directus recorded the end of a run; it will be run again');

    await startRunner({ JOBS_STALE_MS: '1000' });
    expect(await ended('backfill', run.id)).toMatchObject({ status: 'succeeded' });
    await waitFor(async () => (await eventsOfRun(run.id)).length > 0, { what: 'backfill.completed' });
    expect(await eventsOfRun(run.id)).toHaveLength(1);
  });
});
