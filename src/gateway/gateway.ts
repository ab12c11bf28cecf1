import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { connectDb } from '../store/db.ts';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { toPositionEntry, unmappableReason, type PositionEntry } from '../domain/live/position-entry.ts';
import { parseStreamEntry } from '../domain/parse-stream-entry.ts';
import { cutShort } from '../domain/cut-short.ts';
import { healthErrors, healthReport, probe, serveMetrics, sharedProbe, type HealthReport } from '../observability/metrics-server.ts';
import { groupWithUnread } from '../stream/consumer-group.ts';
import type { StreamEntry } from '../stream/stream-entry.ts';
import { parseClientMessage, parseTopic, type ClientMessage, type Topic } from './client-messages.ts';
import type { GatewayConfig } from './config.ts';
import { DeviceRoutes, loadDeviceRoutes } from './device-routes.ts';
import { CredentialsRefused, credentialsOf, DirectusAccess, DirectusUnavailable, type Credentials, type EventAccess } from './directus-access.ts';
import { broadcastGroup, InstanceRegistry } from './instances.ts';
import { LatestFixes } from './latest-fixes.ts';
import { TokenBucket } from './limits.ts';
import { LiveFeed, readSince } from './live-feed.ts';
import { fixesOf, playBack, PlaybackError, playbackSpan, storedFixes } from './playback.ts';
import { TopicHub } from './topic-hub.ts';
import { CLOSE, Viewer, type Preparing } from './viewer.ts';
import { redisConnectionLog, reportConnection, unlessRedisDown } from '../stream/connection-report.ts';

export const LIVE_PATH = '/ws-live';

/** A playback running on this instance: its topic lives as long as it has viewers or positions left. */
interface Playback {
  eventId: string;
  stopped: boolean;
}

type Request = { id?: string | number };

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 503: 'Service Unavailable' };

/** Answers an upgrade that will not become a WebSocket with a plain HTTP error. */
function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * The live WebSocket gateway (CONTRACTS section 6): reads the telemetry stream through its own consumer group and
 * fans positions out by event topic to viewers authenticated by Directus.
 */
export class Gateway {
  readonly registry = new Registry();
  private readonly db: Knex;
  private readonly redis: Redis;
  private readonly feed: LiveFeed;
  private readonly instances: InstanceRegistry;
  private readonly access: DirectusAccess;
  private readonly latest: LatestFixes;
  private readonly hub = new TopicHub();
  private readonly viewers = new Set<Viewer>();
  /** Each viewer's budget of subscribe and playback requests (GATEWAY_SUBSCRIBE_BURST, GATEWAY_SUBSCRIBE_PER_SECOND). */
  private readonly requestBudgets = new WeakMap<Viewer, TokenBucket>();
  private recheckingAccess = false;
  private readonly playbacks = new Map<string, Playback>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  private routes = new DeviceRoutes([]);
  private server: Server | null = null;
  private metricsServer: Server | null = null;
  private timers: NodeJS.Timeout[] = [];
  private draining = false;
  private readonly group: string;
  private readonly metrics;
  /** The entries this instance's group has not read yet (null: Redis has no such group), one request a scrape. */
  private readonly groupState = sharedProbe(async () => (await groupWithUnread(this.redis, this.config.REDIS_TELEMETRY_STREAM, this.group))?.lag ?? null, 2000);

  constructor(private readonly config: GatewayConfig, private readonly log: Logger, fetchImpl?: typeof fetch) {
    this.group = broadcastGroup(config.INSTANCE_ID);
    this.db = connectDb(config.DATABASE_URL, { pool: 5, application: 'pitwall-gateway', log });
    this.redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: true });
    const feedRedis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
    reportConnection(this.redis, redisConnectionLog(log));
    reportConnection(feedRedis, { warn: () => undefined, back: () => undefined });
    this.feed = new LiveFeed(feedRedis, { stream: config.REDIS_TELEMETRY_STREAM, group: this.group, consumer: config.INSTANCE_ID, batchSize: config.GATEWAY_BATCH_SIZE, blockMs: config.GATEWAY_BLOCK_MS }, (entries) => this.broadcast(entries), log);
    this.latest = new LatestFixes(this.db);
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const hub = this.hub;
    const viewers = this.viewers;
    const lookups = () => this.access.lookups;
    const groupState = () => this.groupState();
    this.metrics = {
      connections: new Gauge({ name: 'pitwall_gateway_connections', help: 'Connected viewers', registers, collect() { this.set(viewers.size); } }),
      subscriptions: new Gauge({ name: 'pitwall_gateway_subscriptions', help: 'Topic subscriptions of connected viewers', registers, collect() { this.set(hub.subscriptions()); } }),
      messagesOut: new Counter({ name: 'pitwall_gateway_messages_out_total', help: 'Position messages handed to viewers', registers }),
      dropped: new Counter({ name: 'pitwall_gateway_slow_clients_dropped_total', help: 'Viewers closed because they could not keep up', registers }),
      upgrades: new Counter({ name: 'pitwall_gateway_upgrades_total', help: 'WebSocket upgrade requests by outcome', labelNames: ['outcome'], registers }),
      directusCalls: new Counter({ name: 'pitwall_gateway_directus_calls_total', help: 'Calls to Directus for authentication and authorization', labelNames: ['kind', 'outcome'], registers }),
      skipped: new Counter({ name: 'pitwall_gateway_skipped_entries_total', help: 'Stream entries not broadcast, by reason', labelNames: ['reason'], registers }),
      entryAge: new Histogram({ name: 'pitwall_gateway_entry_age_seconds', help: 'From XADD (the entry id) to the broadcast', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30], registers }),
      // Read at each scrape, not only when /healthz is asked: a lag alert must not depend on a health checker.
      lag: new Gauge({ name: 'pitwall_gateway_stream_lag_entries', help: 'Entries of the stream this instance has not read yet (NaN while Redis cannot tell)', registers, async collect() { const info = await groupState(); this.set(info.ok ? (info.value ?? Number.NaN) : Number.NaN); } }),
      rateLimited: new Counter({ name: 'pitwall_gateway_rate_limited_total', help: 'Subscribe and playback requests answered rate-limited (GATEWAY_SUBSCRIBE_BURST, GATEWAY_SUBSCRIBE_PER_SECOND)', labelNames: ['request'], registers }),
      lookupsShed: new Counter({ name: 'pitwall_gateway_directus_lookups_shed_total', help: 'Directus lookups answered unavailable without asking Directus, as too many were in flight and waiting', labelNames: ['kind', 'reason'], registers }),
      lookupsInFlight: new Gauge({ name: 'pitwall_gateway_directus_lookups_in_flight', help: 'Directus lookups under way (at most GATEWAY_DIRECTUS_MAX_IN_FLIGHT)', registers, collect() { this.set(lookups().running); } }),
      lookupsQueued: new Gauge({ name: 'pitwall_gateway_directus_lookups_queued', help: 'Directus lookups waiting for a place (at most GATEWAY_DIRECTUS_MAX_QUEUED)', registers, collect() { this.set(lookups().queued); } }),
    };
    this.access = new DirectusAccess({
      directusUrl: config.DIRECTUS_URL,
      allowTtlMs: config.GATEWAY_AUTH_TTL_MS,
      denyTtlMs: config.GATEWAY_AUTH_DENY_TTL_MS,
      timeoutMs: config.GATEWAY_DIRECTUS_TIMEOUT_MS,
      maxInFlight: config.GATEWAY_DIRECTUS_MAX_IN_FLIGHT,
      maxQueued: config.GATEWAY_DIRECTUS_MAX_QUEUED,
      onShed: (kind, reason) => this.metrics.lookupsShed.inc({ kind, reason }),
      eventExists: async (id) => (await this.db('events').where({ id }).first('id')) !== undefined,
      onCall: (kind, outcome) => this.metrics.directusCalls.inc({ kind, outcome }),
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
    this.instances = new InstanceRegistry(this.redis, config.REDIS_TELEMETRY_STREAM, config.INSTANCE_ID, config.GATEWAY_INSTANCE_TTL_MS, log);
  }

  async start(): Promise<void> {
    const c = this.config;
    await this.redis.connect();
    this.routes = await loadDeviceRoutes(this.db);
    await this.instances.start();
    await this.feed.start();
    this.server = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `connect with a WebSocket to ${LIVE_PATH}` }));
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(c.LIVE_WS_PORT, '0.0.0.0', () => resolve());
    });
    this.every(c.GATEWAY_ROUTES_REFRESH_MS, () => this.refreshRoutes());
    this.every(c.GATEWAY_PING_MS, async () => this.keepAlive());
    this.every(c.GATEWAY_AUTH_TTL_MS, async () => this.access.sweep());
    this.every(c.GATEWAY_AUTH_TTL_MS, () => this.recheckAccess());
    this.metricsServer = await serveMetrics(this.registry, c.METRICS_PORT, () => this.health());
    this.log.info({ port: c.LIVE_WS_PORT, path: LIVE_PATH, metricsPort: c.METRICS_PORT, stream: c.REDIS_TELEMETRY_STREAM, group: this.group, directus: c.DIRECTUS_URL }, 'live gateway listening');
  }

  private every(ms: number, task: () => Promise<void>): void {
    const timer = setInterval(() => task().catch((error: unknown) => this.log.warn({ err: error }, 'periodic task failed')), ms);
    timer.unref();
    this.timers.push(timer);
  }

  private async refreshRoutes(): Promise<void> {
    const routes = await loadDeviceRoutes(this.db);
    if (routes.signature === this.routes.signature) return;
    this.routes = routes;
    this.log.info('tracker assignments changed; topics follow them from now on');
  }

  private keepAlive(): void {
    for (const viewer of this.viewers) {
      if (!viewer.alive) {
        viewer.drop(CLOSE.unresponsive, 'no answer to the keepalive ping');
        continue;
      }
      viewer.alive = false;
      viewer.socket.ping();
    }
  }

  // ---- Connections ---------------------------------------------------------------------------------------------

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const outcome = (name: string) => this.metrics.upgrades.inc({ outcome: name });
    // Node passes on request targets that are no URL (`//[`): one such request must not end the process.
    const url = URL.parse(req.url ?? '/', 'http://gateway');
    if (!url) {
      outcome('bad-request');
      return refuse(socket, 400, `not a URL: ${JSON.stringify(cutShort(req.url ?? '', 80))}`);
    }
    if (url.pathname !== LIVE_PATH) {
      outcome('not-found');
      return refuse(socket, 404, `no WebSocket here: connect to ${LIVE_PATH}`);
    }
    if (this.draining) {
      outcome('draining');
      return refuse(socket, 503, 'this gateway instance is shutting down; connect again');
    }
    const credentials = credentialsOf(req.headers, url, this.config.SESSION_COOKIE_NAME);
    if (!credentials) {
      outcome('unauthorized');
      return refuse(socket, 401, 'a Directus access token is required (Authorization: Bearer <token>, the access_token parameter, or the Directus session cookie)');
    }
    this.access.identify(credentials).then(
      (identity) => {
        if (!identity.ok) {
          outcome('unauthorized');
          return refuse(socket, 401, 'Directus did not accept these credentials (invalid or expired token)');
        }
        if (this.draining) {
          outcome('draining');
          return refuse(socket, 503, 'this gateway instance is shutting down; connect again');
        }
        outcome('accepted');
        this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, credentials, identity.userId));
      },
      (error: unknown) => {
        outcome('directus-unavailable');
        this.log.warn({ err: error }, 'cannot authenticate a viewer');
        refuse(socket, 503, `cannot check credentials now: ${error instanceof DirectusUnavailable ? error.message : 'Directus is unavailable'}`);
      },
    );
  }

  private connected(ws: WebSocket, credentials: Credentials, userId: string): void {
    const viewer = new Viewer(ws, credentials, userId, { maxBufferedBytes: this.config.GATEWAY_MAX_BUFFERED_BYTES, maxQueued: 100_000 }, (v, code, reason) => {
      if (code === CLOSE.slowConsumer) this.metrics.dropped.inc();
      this.log.info({ user: v.userId, reason }, 'viewer closed');
    });
    this.viewers.add(viewer);
    this.requestBudgets.set(viewer, new TokenBucket(this.config.GATEWAY_SUBSCRIBE_BURST ?? this.config.GATEWAY_MAX_SUBSCRIPTIONS, this.config.GATEWAY_SUBSCRIBE_PER_SECOND));
    ws.on('pong', () => {
      viewer.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        viewer.sendMessage({ type: 'error', code: 'bad-request', message: 'expected JSON text frames' });
        return;
      }
      const text = data.toString();
      this.onMessage(viewer, text).catch((error: unknown) => {
        this.log.error({ err: error }, 'message handling failed');
        // With the request's id, so that a client waiting on it (a playback while Postgres is down) hears back.
        const parsed = parseClientMessage(text);
        const id = parsed.ok ? parsed.message.id : parsed.id;
        viewer.sendMessage({ type: 'error', code: 'internal', message: 'the gateway could not handle this message', ...(id !== undefined ? { id } : {}) });
      });
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      viewer.closed = true;
      this.viewers.delete(viewer);
      for (const topic of viewer.subscriptions.keys()) this.hub.remove(topic, viewer);
      viewer.subscriptions.clear();
    });
  }

  private async onMessage(viewer: Viewer, text: string): Promise<void> {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      viewer.sendMessage({ type: 'error', code: 'bad-request', message: parsed.message, ...(parsed.id !== undefined ? { id: parsed.id } : {}) });
      return;
    }
    const message = parsed.message;
    if (message.type === 'unsubscribe') return this.unsubscribe(viewer, message.topic, message);
    if (message.type === 'playback') return this.startPlayback(viewer, message);
    return this.subscribe(viewer, message);
  }

  private error(viewer: Viewer, request: Request, code: string, message: string, extra: object = {}): void {
    viewer.sendMessage({ type: 'error', code, message, ...extra, ...(request.id !== undefined ? { id: request.id } : {}) });
  }

  /**
   * Whether the topic limit leaves room for one more, counting requests still at work for topics let go meanwhile
   * (Viewer.occupied); answers too-many-subscriptions when not.
   */
  private roomFor(viewer: Viewer, request: Request): boolean {
    if (viewer.occupied() < this.config.GATEWAY_MAX_SUBSCRIPTIONS) return true;
    this.error(viewer, request, 'too-many-subscriptions', `at most ${this.config.GATEWAY_MAX_SUBSCRIPTIONS} topics per connection (requests still being answered count too)`);
    return false;
  }

  /**
   * Takes one of the viewer's subscribe and playback requests from its budget (each can cost a Directus lookup and
   * database reads), or answers rate-limited, saying when to try again; the connection stays.
   */
  private withinBudget(viewer: Viewer, request: Request, kind: 'subscribe' | 'playback'): boolean {
    const bucket = this.requestBudgets.get(viewer);
    const waitMs = bucket ? bucket.take() : 0;
    if (waitMs === 0) return true;
    this.metrics.rateLimited.inc({ request: kind });
    this.error(viewer, request, 'rate-limited', `too many subscribe and playback requests on this connection (${bucket!.capacity} at once, then ${bucket!.perSecond} a second): retry in ${waitMs} ms`, { retryAfterMs: waitMs });
    return false;
  }

  /**
   * Asks Directus whether this viewer may see the event, as an answer the viewer can read. `answered`: whether the
   * request is still to be answered here (not once an unsubscribe answered it as cancelled meanwhile).
   */
  private async authorize(viewer: Viewer, request: Request, eventId: string, answered: () => boolean = () => true): Promise<boolean> {
    let access: EventAccess;
    try {
      access = await this.access.eventAccess(viewer.credentials, viewer.userId, eventId);
    } catch (error) {
      if (error instanceof CredentialsRefused) {
        this.credentialsRefused(viewer);
        return false;
      }
      if (answered()) this.error(viewer, request, 'unavailable', `cannot check access to the event now: ${(error as Error).message}`);
      return false;
    }
    if (access === 'forbidden' && answered()) this.error(viewer, request, 'forbidden', `you may not read event ${eventId}`);
    if (access === 'not-found' && answered()) this.error(viewer, request, 'not-found', `no event ${eventId}`);
    return access === 'allow';
  }

  /** Not "forbidden": a client would give the event up, where it only needs fresh credentials and a reconnect. */
  private credentialsRefused(viewer: Viewer): void {
    this.access.forget(viewer.credentials);
    viewer.drop(CLOSE.credentialsRefused, 'credentials expired or revoked: connect again with fresh ones');
  }

  /**
   * Asks again, as often as answers are kept (GATEWAY_AUTH_TTL_MS), whether each viewer may still read the events it
   * follows: a permission withdrawn in Directus (a role changed, a policy removed, the event deleted) ends the topic
   * with `unsubscribed` and the reason, and credentials Directus no longer accepts close the connection (4001).
   * Playbacks are checked by the event they play. Answers are cached per user and event for as long as this interval,
   * so Directus gets about one call per user and event every other round, and an answer acted on is at most about
   * two intervals old. While Directus cannot be asked, viewers keep what they have.
   */
  private async recheckAccess(): Promise<void> {
    if (this.recheckingAccess) return;
    this.recheckingAccess = true;
    try {
      await Promise.all([...this.viewers].map((viewer) => this.recheckViewer(viewer)));
    } finally {
      this.recheckingAccess = false;
    }
  }

  private async recheckViewer(viewer: Viewer): Promise<void> {
    for (const [name, state] of [...viewer.subscriptions]) {
      const topic = parseTopic(name);
      const eventId = topic?.kind === 'event' ? topic.eventId : topic?.kind === 'playback' ? this.playbacks.get(topic.playbackId)?.eventId : undefined;
      if (state !== 'live' || eventId === undefined || viewer.closed) continue;
      let access: EventAccess;
      try {
        access = await this.access.eventAccess(viewer.credentials, viewer.userId, eventId);
      } catch (error) {
        if (error instanceof CredentialsRefused) return this.credentialsRefused(viewer);
        continue;
      }
      if (access === 'allow' || viewer.subscriptions.get(name) !== 'live') continue;
      this.leave(viewer, name);
      const message = access === 'forbidden' ? `you may no longer read event ${eventId}` : `event ${eventId} no longer exists`;
      viewer.sendMessage({ type: 'unsubscribed', topic: name, code: access, message });
    }
  }

  /** Takes the viewer off a topic: no more positions of it, and its place counts no more. */
  private leave(viewer: Viewer, topic: string): void {
    this.hub.remove(topic, viewer);
    viewer.subscriptions.delete(topic);
  }

  private unsubscribe(viewer: Viewer, name: string, request: Request): void {
    const topic = parseTopic(name)!;
    // A subscribe still being answered ends here, answered: a client waiting for the reply to its id would wait forever.
    const state = viewer.subscriptions.get(topic.name);
    if (state !== undefined && state !== 'live' && topic.kind === 'event') {
      this.error(viewer, { id: state.requestId }, 'cancelled', `unsubscribed from ${topic.name} before the subscription was ready`, { topic: topic.name });
    }
    this.leave(viewer, topic.name);
    viewer.sendMessage({ type: 'unsubscribed', topic: topic.name, ...(request.id !== undefined ? { id: request.id } : {}) });
  }

  private async subscribe(viewer: Viewer, message: Extract<ClientMessage, { type: 'subscribe' }>): Promise<void> {
    const topic = parseTopic(message.topic)!;
    // Answered, not ignored: a client waiting for the reply to its id would wait forever.
    if (viewer.subscriptions.has(topic.name)) {
      return this.error(viewer, message, 'already-subscribed', `this connection is subscribed to ${topic.name} already (unsubscribe first to subscribe again)`);
    }
    if (!this.roomFor(viewer, message) || !this.withinBudget(viewer, message, 'subscribe')) return;
    if (topic.kind === 'playback') return this.joinPlayback(viewer, message, topic.playbackId, topic.name);
    // Claimed before Directus is asked, so that a second subscribe meanwhile is answered as one. Unsubscribed (and
    // perhaps subscribed again) meanwhile, the unsubscribe answered this request (cancelled): it then ends without
    // another word and leaves the topic to the request that holds it (but counts against the topic limit until done).
    const slot = viewer.startPreparing(topic.name, message.id);
    try {
      await this.subscribeHeld(viewer, message, topic, slot);
    } finally {
      viewer.finished(slot);
    }
  }

  private async subscribeHeld(viewer: Viewer, message: Extract<ClientMessage, { type: 'subscribe' }>, topic: Extract<Topic, { kind: 'event' }>, slot: Preparing): Promise<void> {
    const allowed = await this.authorize(viewer, message, topic.eventId, () => viewer.holds(topic.name, slot));
    if (!viewer.holds(topic.name, slot)) return;
    if (!allowed) {
      viewer.subscriptions.delete(topic.name);
      return;
    }
    // From here on live positions are kept for this viewer, so none falls between the snapshot and the stream.
    this.hub.add(topic.name, viewer);
    try {
      await this.prepareSubscription(viewer, message, topic, slot);
    } catch (error) {
      if (!viewer.holds(topic.name, slot)) return;
      // Postgres or Redis failed us: the viewer is not left half subscribed, with positions piling up for it.
      this.leave(viewer, topic.name);
      this.error(viewer, message, 'unavailable', `cannot prepare the subscription now: ${(error as Error).message}`);
    }
  }

  /** The snapshot, or what a resuming viewer missed, then live positions. */
  private async prepareSubscription(viewer: Viewer, message: Extract<ClientMessage, { type: 'subscribe' }>, topic: Extract<Topic, { kind: 'event' }>, slot: Preparing): Promise<void> {
    const still = () => viewer.holds(topic.name, slot);
    const reply = { type: 'subscribed', topic: topic.name, ...(message.id !== undefined ? { id: message.id } : {}) };
    if (message.since) {
      const until = this.feed.position;
      const resume = await readSince(
        this.redis,
        this.config.REDIS_TELEMETRY_STREAM,
        message.since,
        until,
        (entry) => {
          const fix = this.broadcastable(entry, false);
          return fix && this.routes.eventsOf(fix.deviceId, fix.ts).includes(topic.eventId) ? { type: 'position', topic: topic.name, cursor: entry.id, data: fix } : null;
        },
        { maxEntries: this.config.GATEWAY_RESUME_MAX_ENTRIES },
      );
      if (!still()) return;
      if (!resume.ok) {
        this.leave(viewer, topic.name);
        const why = {
          trimmed: `positions after ${message.since} are no longer kept`,
          'too-far': `more than ${this.config.GATEWAY_RESUME_MAX_ENTRIES.toLocaleString('en')} positions came after ${message.since}`,
          ahead: `${message.since} is ahead of the newest position the stream has had (a cursor of another stream, or of a Redis that lost its data since)`,
        }[resume.reason];
        return this.error(viewer, message, 'resume-gap', `${why}; subscribe again without "since" for a snapshot`);
      }
      viewer.sendMessage({ ...reply, snapshot: [], resumed: true });
      // Paced: a minute away is thousands of positions, more than a fast viewer can be sent in one turn.
      if (!(await viewer.catchUp(resume.kept.map((position) => JSON.stringify(position)), still))) return;
      return viewer.goLive(topic.name, slot, until);
    }
    const devices = this.routes.devicesOf(topic.eventId);
    const stored = await this.latest.stored(topic.eventId, devices);
    if (!still()) return;
    // Nothing awaited from here: the snapshot and `upTo` describe the same moment of the stream.
    const upTo = this.feed.position;
    const snapshot = this.latest.merge(devices, stored, (fix) => this.routes.eventsOf(fix.deviceId, fix.ts).includes(topic.eventId));
    viewer.sendMessage({ ...reply, cursor: upTo, snapshot });
    await viewer.goLive(topic.name, slot, upTo);
  }

  // ---- The stream ------------------------------------------------------------------------------------------------

  /** The position entry of a stream entry fit for the map, or null (counted by reason when `count`). */
  private broadcastable(entry: StreamEntry, count: boolean): PositionEntry | null {
    if (!entry.fields) {
      if (count) this.metrics.skipped.inc({ reason: 'deleted' });
      return null;
    }
    const parsed = parseStreamEntry(entry.fields);
    if (!parsed.ok) {
      if (count) this.metrics.skipped.inc({ reason: 'malformed' });
      return null;
    }
    const reason = unmappableReason(parsed.position, Date.now(), this.config.MAX_FUTURE_SKEW_MS);
    if (reason) {
      if (count) this.metrics.skipped.inc({ reason });
      return null;
    }
    return toPositionEntry(parsed.position);
  }

  private broadcast(entries: StreamEntry[]): void {
    const now = Date.now();
    for (const entry of entries) {
      this.metrics.entryAge.observe(Math.max(0, now - Number(entry.id.split('-')[0])) / 1000);
      const fix = this.broadcastable(entry, true);
      if (!fix) continue;
      this.latest.offer(fix);
      for (const eventId of this.routes.eventsOf(fix.deviceId, fix.ts)) {
        const topic = `event:${eventId}`;
        const sent = this.hub.publish(topic, entry.id, { type: 'position', topic, cursor: entry.id, data: fix });
        this.metrics.messagesOut.inc(sent);
      }
    }
  }

  // ---- Playback of a stored stage --------------------------------------------------------------------------------

  private async startPlayback(viewer: Viewer, message: Extract<ClientMessage, { type: 'playback' }>): Promise<void> {
    // A playback is a topic too, with its own reads of the database: it counts against the same limits.
    if (!this.roomFor(viewer, message) || !this.withinBudget(viewer, message, 'playback')) return;
    const id = randomUUID();
    const topic = `playback:${id}`;
    // Its place is taken now, before the reads below: a burst of playback requests cannot pass the limit together.
    const slot = viewer.startPreparing(topic);
    let span;
    try {
      if (!(await this.authorize(viewer, message, message.event.toLowerCase()))) return;
      span = await playbackSpan(this.db, message.event.toLowerCase(), message.stage.toLowerCase());
    } catch (error) {
      if (error instanceof PlaybackError) return this.error(viewer, message, 'bad-request', error.message);
      throw error;
    } finally {
      // Refused, failed, or the viewer left while the span was read: nothing may stay behind for a closed viewer.
      if (span === undefined || viewer.closed) viewer.subscriptions.delete(topic);
      viewer.finished(slot);
    }
    if (viewer.closed) return;
    const playback: Playback = { eventId: message.event.toLowerCase(), stopped: false };
    this.playbacks.set(id, playback);
    this.hub.add(topic, viewer);
    viewer.subscriptions.set(topic, 'live');
    viewer.sendMessage({ type: 'playback', topic, event: playback.eventId, stage: message.stage.toLowerCase(), speed: message.speed, from: span.from, to: span.to, ...(message.id !== undefined ? { id: message.id } : {}) });
    this.log.info({ topic, event: playback.eventId, stage: message.stage, speed: message.speed }, 'playback started');
    const stopped = () => playback.stopped || this.draining || !this.hub.has(topic);
    const ofEvent = (fix: PositionEntry) => this.routes.eventsOf(fix.deviceId, fix.ts).includes(playback.eventId);
    playBack(fixesOf(storedFixes(this.db, span), ofEvent), span.from, message.speed, (fix, n) => {
      const cursor = `${fix.ts}-${n}`;
      this.metrics.messagesOut.inc(this.hub.publish(topic, cursor, { type: 'position', topic, cursor, data: fix }));
    }, stopped)
      .then((n) => {
        this.hub.publish(topic, '', { type: 'playback-ended', topic, positions: n });
        this.log.info({ topic, positions: n }, 'playback ended');
      })
      .catch((error: unknown) => {
        this.log.error({ err: error }, 'playback failed');
        this.hub.publish(topic, '', { type: 'error', code: 'internal', topic, message: `playback ${topic} stopped: ${(error as Error).message}` });
      })
      .finally(() => this.playbacks.delete(id));
  }

  private async joinPlayback(viewer: Viewer, request: Request, playbackId: string, topic: string): Promise<void> {
    const playback = this.playbacks.get(playbackId);
    if (!playback) return this.error(viewer, request, 'not-found', `no playback ${topic} on this gateway (it ended, or runs on another instance)`);
    // Claimed while Directus is asked, as a subscribe to an event: a second request meanwhile is already-subscribed,
    // and the request counts against the topic limit.
    const slot = viewer.startPreparing(topic);
    let allowed;
    try {
      allowed = await this.authorize(viewer, request, playback.eventId);
    } finally {
      viewer.finished(slot);
    }
    if (!viewer.holds(topic, slot)) return;
    if (!allowed) {
      viewer.subscriptions.delete(topic);
      return;
    }
    this.hub.add(topic, viewer);
    viewer.subscriptions.set(topic, 'live');
    viewer.sendMessage({ type: 'subscribed', topic, snapshot: [], ...(request.id !== undefined ? { id: request.id } : {}) });
  }

  // ---- Operations ------------------------------------------------------------------------------------------------

  async health(): Promise<HealthReport> {
    const [redis, db, info] = await Promise.all([probe(() => this.redis.ping(), 2000), probe(() => this.db.raw('SELECT 1'), 2000), this.groupState()]);
    // Bare codes, as every process answers them, for probes and alerts to match on; the details go beside them.
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    if (!redis.ok) reasons.push('redis-unreachable');
    if (!db.ok) reasons.push('postgres-unreachable');
    const idleMs = Date.now() - this.feed.progressAt;
    if (idleMs > this.config.GATEWAY_STALL_MS) reasons.push('stream-not-read');
    return healthReport(reasons, {
      instance: this.config.INSTANCE_ID,
      group: this.group,
      connections: this.viewers.size,
      subscriptions: this.hub.subscriptions(),
      lag: info.ok ? info.value : null,
      sinceReadS: Math.round(idleMs / 1000),
      ...healthErrors({ redis, postgres: db }),
    });
  }

  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : this.config.LIVE_WS_PORT;
  }

  /**
   * Graceful drain: new upgrades are refused, viewers are told to go elsewhere (1001, so they reconnect with `since`
   * to another instance), and after GATEWAY_DRAIN_MS the rest are cut. The instance's group goes with it.
   */
  async close(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    for (const timer of this.timers) clearInterval(timer);
    this.server?.close();
    for (const viewer of this.viewers) viewer.socket.close(1001, 'gateway restarting: connect again and resume with "since"');
    const deadline = performance.now() + this.config.GATEWAY_DRAIN_MS;
    while (this.viewers.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    for (const viewer of this.viewers) viewer.socket.terminate();
    await this.feed.close();
    const left = this.instances.leave(this.group).catch((error: unknown) => this.log.warn({ err: error }, 'could not remove this instance\'s group'));
    // Redis down: the group stays, and the instances still running sweep it once it looks gone.
    await unlessRedisDown(this.redis, left);
    this.redis.disconnect();
    await this.db.destroy();
    await new Promise((resolve) => this.metricsServer?.close(resolve) ?? resolve(undefined));
    this.log.info('live gateway stopped');
  }
}
