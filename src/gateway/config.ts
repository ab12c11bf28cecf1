import { hostname } from 'node:os';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { DEFAULT_MAX_FUTURE_SKEW_MS } from '../domain/read-well-formed-entry.ts';

export const gatewayEnv = z.object({
  DATABASE_URL: vars.databaseUrl,
  REDIS_URL: vars.redisUrl,
  REDIS_TELEMETRY_STREAM: vars.telemetryStream,
  /** Where viewers' credentials are checked (`/users/me`, `/items/events/<id>`). */
  DIRECTUS_URL: vars.url,
  LIVE_WS_PORT: vars.port(8090),
  METRICS_PORT: vars.port(9466),
  /** Names this instance's consumer group `live-broadcast-{INSTANCE_ID}`; unique per running instance. */
  INSTANCE_ID: z.string().regex(/^[\w.-]{1,100}$/, 'expected letters, digits, dot, dash or underscore').default(`${hostname()}-${process.pid}`),
  /** How long a gone instance's heartbeat lasts before another instance removes its group. */
  GATEWAY_INSTANCE_TTL_MS: vars.durationMs(30_000),
  SESSION_COOKIE_NAME: z.string().regex(/^[\w.-]+$/).default('directus_session_token'),
  GATEWAY_AUTH_TTL_MS: vars.durationMs(30_000),
  GATEWAY_AUTH_DENY_TTL_MS: vars.durationMs(5_000),
  GATEWAY_DIRECTUS_TIMEOUT_MS: vars.durationMs(5_000),
  GATEWAY_PING_MS: vars.durationMs(25_000),
  /** A viewer with more unsent bytes than this is closed (4008) rather than slowing the others. */
  GATEWAY_MAX_BUFFERED_BYTES: vars.positiveInt(1_048_576),
  GATEWAY_MAX_SUBSCRIPTIONS: vars.positiveInt(50),
  /**
   * Subscribe and playback requests per connection, as a token bucket: this many at once (by default as many as
   * GATEWAY_MAX_SUBSCRIPTIONS), then GATEWAY_SUBSCRIBE_PER_SECOND; beyond, the request is answered `rate-limited`.
   */
  GATEWAY_SUBSCRIBE_BURST: z.coerce.number().int().positive().optional(),
  GATEWAY_SUBSCRIBE_PER_SECOND: z.coerce.number().positive().max(1_000_000).default(5),
  /** Directus lookups (credentials, events) this instance has in flight at once, over all its viewers. */
  GATEWAY_DIRECTUS_MAX_IN_FLIGHT: vars.positiveInt(10),
  /**
   * Lookups waiting for one of those places; a lookup that finds the queue full, or waits longer than
   * GATEWAY_DIRECTUS_TIMEOUT_MS, is answered `unavailable` (503 at an upgrade) without asking Directus.
   */
  GATEWAY_DIRECTUS_MAX_QUEUED: z.coerce.number().int().min(0).default(1_000),
  /**
   * A resume (`since`) reads at most this many stream entries (every tracker's, not only the topic's); further back,
   * the viewer is answered resume-gap and takes a snapshot instead.
   */
  GATEWAY_RESUME_MAX_ENTRIES: vars.positiveInt(100_000),
  GATEWAY_ROUTES_REFRESH_MS: vars.durationMs(2_000),
  GATEWAY_BATCH_SIZE: vars.positiveInt(1_000),
  GATEWAY_BLOCK_MS: vars.durationMs(1_000),
  /** On SIGTERM, how long viewers get to close before the rest are cut. */
  GATEWAY_DRAIN_MS: vars.durationMs(5_000),
  /** /healthz answers 503 when the stream has not been read for this long. */
  GATEWAY_STALL_MS: vars.durationMs(30_000),
  MAX_FUTURE_SKEW_MS: vars.durationMs(DEFAULT_MAX_FUTURE_SKEW_MS),
  LOG_LEVEL: vars.logLevel,
});

export type GatewayConfig = z.infer<typeof gatewayEnv>;

export const loadGatewayConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => loadConfig(gatewayEnv, env);
