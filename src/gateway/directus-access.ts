import { createHash } from 'node:crypto';
import { ConcurrencyLimit, LimitRefused } from './limits.ts';

/** What a viewer presented at upgrade: a Directus access token, or the Directus app's session cookie. */
export type Credentials = { kind: 'bearer'; token: string } | { kind: 'cookie'; name: string; token: string };

export type Identity = { ok: true; userId: string } | { ok: false };
export type EventAccess = 'allow' | 'forbidden' | 'not-found';

/**
 * Directus no longer accepts the credentials a viewer connected with (an access token that expired, a static token
 * changed, a session signed out): not an answer about the event, and not remembered for its user.
 */
export class CredentialsRefused extends Error {
  override name = 'CredentialsRefused';

  /** `credentials`: the key of the credentials Directus refused. */
  constructor(readonly credentials: string) {
    super('Directus no longer accepts these credentials (expired, changed or signed out)');
  }
}

/** Directus could not be asked (down, slow, or answering 5xx): the caller gets a clear error, not a guess. */
export class DirectusUnavailable extends Error {
  override name = 'DirectusUnavailable';
}

export interface AccessOptions {
  directusUrl: string;
  /** How long an answer is reused: a herd of viewers of one user and event costs one call per this long. */
  allowTtlMs: number;
  /** Refusals are kept shorter, so a permission just granted is seen soon. */
  denyTtlMs: number;
  timeoutMs: number;
  /**
   * Lookups in flight at once over all viewers (a lookup: one call to Directus, and for a 403 the read of whether the
   * event exists); more wait, at most `maxQueued` of them and each at most `timeoutMs`, and beyond that are answered
   * DirectusUnavailable without asking Directus. Unbounded when left out.
   */
  maxInFlight?: number;
  maxQueued?: number;
  /** Whether an event exists, for telling "not found" from "forbidden" (Directus answers 403 to both). */
  eventExists: (eventId: string) => Promise<boolean>;
  onCall?: (kind: 'user' | 'event', outcome: string) => void;
  /** A lookup refused because too many were in flight and waiting already. */
  onShed?: (kind: 'user' | 'event', reason: 'queue-full' | 'queue-timeout') => void;
  fetch?: typeof fetch;
}

interface Cached<T> {
  expiresAt: number;
  value: Promise<T>;
}

/**
 * Authentication and authorization through Directus with the viewer's own credentials (CONTRACTS section 6).
 * Answers are cached briefly and lookups in flight are shared, so thousands of viewers connecting at race start
 * cost Directus about one call per distinct credential and per distinct user and event.
 */
export class DirectusAccess {
  private readonly identities = new Map<string, Cached<Identity>>();
  private readonly grants = new Map<string, Cached<EventAccess>>();
  private readonly fetch: typeof fetch;
  /** Bounds what all viewers together can make this instance ask of Directus at once. */
  readonly lookups: ConcurrencyLimit;

  constructor(private readonly options: AccessOptions) {
    this.fetch = options.fetch ?? fetch;
    this.lookups = new ConcurrencyLimit(options.maxInFlight ?? Number.POSITIVE_INFINITY, options.maxQueued ?? Number.POSITIVE_INFINITY, options.timeoutMs);
  }

  /** Who the credentials belong to (GET /users/me); `{ok: false}` when Directus refuses them. */
  identify(credentials: Credentials, now = Date.now()): Promise<Identity> {
    // Refused here, not left to fetch to throw on: that would answer 503 and count Directus as unreachable.
    if (!fitsHeader(credentials.token)) return Promise.resolve({ ok: false });
    return this.cached(this.identities, identityKey(credentials), now, () => this.limited('user', async () => {
      const response = await this.call('user', '/users/me?fields=id', credentials);
      if (response.status === 401 || response.status === 403) {
        await discard(response);
        return { ok: false };
      }
      const body = (await response.json()) as { data?: { id?: unknown } };
      if (typeof body.data?.id !== 'string') throw new DirectusUnavailable('Directus answered /users/me without a user id');
      return { ok: true, userId: body.data.id };
    }), (identity) => identity.ok);
  }

  /** Whether the user may read the event (GET /items/events/<id>?fields=id with the same credentials). */
  async eventAccess(credentials: Credentials, userId: string, eventId: string, now = Date.now(), tries = 3): Promise<EventAccess> {
    try {
      return await this.cached(this.grants, `${userId}|${eventId}`, now, () => this.checkEvent(credentials, eventId), (access) => access === 'allow');
    } catch (error) {
      if (!(error instanceof CredentialsRefused) || error.credentials === identityKey(credentials)) throw error;
      // The check the user's viewers shared was made with another viewer's credentials (an expired token beside
      // fresh ones): asked again, shared again (the refusal is not kept), so that it never closes this viewer and a
      // herd of them costs one call more, not one each.
      return tries > 1 ? this.eventAccess(credentials, userId, eventId, Date.now(), tries - 1) : this.checkEvent(credentials, eventId);
    }
  }

  private checkEvent(credentials: Credentials, eventId: string): Promise<EventAccess> {
    return this.limited('event', () => this.askEvent(credentials, eventId));
  }

  private async askEvent(credentials: Credentials, eventId: string): Promise<EventAccess> {
    const response = await this.call('event', `/items/events/${encodeURIComponent(eventId)}?fields=id`, credentials);
    // Directus answers a token it can no longer verify (signed with a SECRET it does not have now) with 403
    // INVALID_TOKEN, not 401: the viewer must come back with fresh credentials, not be told the event is forbidden.
    const refusal = response.status === 403 ? await errorCode(response) : undefined;
    // Otherwise only the status counts: an unread body holds its connection to Directus until it is collected.
    if (refusal === undefined) await discard(response);
    if (response.status === 200) return 'allow';
    if (response.status === 404) return 'not-found';
    if (response.status === 401 || refusal === 'INVALID_TOKEN') throw new CredentialsRefused(identityKey(credentials));
    if (response.status === 403) return (await this.options.eventExists(eventId)) ? 'forbidden' : 'not-found';
    throw new DirectusUnavailable(`Directus answered ${response.status} to the event check`);
  }

  /** Forgets who these credentials belonged to, so that the next upgrade with them asks Directus again. */
  forget(credentials: Credentials): void {
    this.identities.delete(identityKey(credentials));
  }

  /** Drops expired answers; called from a timer so a long race does not keep every token it ever saw. */
  sweep(now = Date.now()): void {
    for (const map of [this.identities, this.grants] as Map<string, Cached<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
  }

  private cached<T>(map: Map<string, Cached<T>>, key: string, now: number, load: () => Promise<T>, allowed: (value: T) => boolean): Promise<T> {
    const hit = map.get(key);
    if (hit && hit.expiresAt > now) return hit.value;
    // Shared while in flight; kept once answered; forgotten at once when Directus could not be asked.
    const entry: Cached<T> = { expiresAt: Number.POSITIVE_INFINITY, value: load() };
    map.set(key, entry);
    entry.value.then(
      (value) => {
        entry.expiresAt = Date.now() + (allowed(value) ? this.options.allowTtlMs : this.options.denyTtlMs);
      },
      () => {
        if (map.get(key) === entry) map.delete(key);
      },
    );
    return entry.value;
  }

  /** Runs a lookup within the bound on lookups in flight; refused by it, the lookup is DirectusUnavailable. */
  private async limited<T>(kind: 'user' | 'event', lookup: () => Promise<T>): Promise<T> {
    try {
      return await this.lookups.run(lookup);
    } catch (error) {
      if (!(error instanceof LimitRefused)) throw error;
      this.options.onShed?.(kind, error.reason);
      throw new DirectusUnavailable(`the gateway has too many Directus lookups under way (${error.message}); try again shortly`);
    }
  }

  private async call(kind: 'user' | 'event', path: string, credentials: Credentials): Promise<Response> {
    const headers: Record<string, string> =
      credentials.kind === 'bearer' ? { authorization: `Bearer ${credentials.token}` } : { cookie: `${credentials.name}=${credentials.token}` };
    let response: Response;
    try {
      response = await this.fetch(new URL(path, this.options.directusUrl), { headers, signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      this.options.onCall?.(kind, 'unreachable');
      throw new DirectusUnavailable(`Directus could not be reached: ${(error as Error).message}`);
    }
    this.options.onCall?.(kind, String(response.status));
    if (response.status >= 500) throw new DirectusUnavailable(`Directus answered ${response.status}`);
    return response;
  }
}

/**
 * The credentials of an upgrade request: `Authorization: Bearer`, else the `access_token` query parameter, else the
 * Directus session cookie (sent by the browser to any port of the Directus host).
 */
export function credentialsOf(headers: { authorization?: string; cookie?: string }, url: URL, cookieName: string): Credentials | null {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '');
  if (bearer) return { kind: 'bearer', token: bearer[1]! };
  const query = url.searchParams.get('access_token');
  if (query) return { kind: 'bearer', token: query };
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === cookieName) {
      const value = part.slice(eq + 1).trim();
      if (value) return { kind: 'cookie', name: cookieName, token: value };
    }
  }
  return null;
}

/**
 * Whether fetch can send the token in a header: tab, visible ASCII and Latin-1 only (undici throws on anything else,
 * such as `?access_token=%E2%82%AC` or a control character). No Directus token looks otherwise, so one that does is
 * refused like any token Directus does not know.
 */
const fitsHeader = (token: string): boolean => /^[\t\x20-\x7e\x80-\xff]*$/.test(token);

const identityKey = (credentials: Credentials): string => createHash('sha256').update(`${credentials.kind}:${credentials.token}`).digest('hex');

/** Lets go of a response whose body is not read. */
/** The code of Directus's first error (`{errors: [{extensions: {code}}]}`), or null; reads the body whole. */
async function errorCode(response: Response): Promise<string | null> {
  const body = (await response.json().catch(() => null)) as { errors?: { extensions?: { code?: unknown } }[] } | null;
  const code = body?.errors?.[0]?.extensions?.code;
  return typeof code === 'string' ? code : null;
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}
