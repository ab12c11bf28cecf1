import type { Accountability } from '@directus/types';
import { catalogue, type RaceEventType } from '../../../../src/domain/events/catalogue.ts';
import { parsedOrText, refuse, writePermission, type Problem } from './write-guard.ts';

type Row = Record<string, unknown>;

const KNOWN_TYPES = Object.keys(catalogue) as RaceEventType[];

/**
 * Subscriptions the signed-webhook step could not honour are refused where they are written, with a 400 naming the
 * field: an `event_types` that is no list would otherwise filter nothing, a misspelt type would silently receive
 * nothing forever, and a URL the step cannot POST to would only fail every delivery. Each field is checked on its
 * own, so an update needs only its payload. A caller who may not write is left to Directus's 403 (see
 * writePermission).
 */
export function subscriptionGuard(database: any) {
  const mayWrite = writePermission(database);
  return async (payload: Row, action: 'create' | 'update', accountability: Accountability | null | undefined): Promise<Row> => {
    if (!(await mayWrite('webhook_subscriptions', action, accountability))) return payload;
    const problems = subscriptionProblems(payload);
    if (problems.length > 0) refuse(problems);
    return payload;
  };
}

/** What the fields a subscription write sends get wrong; absent and null are left to Directus (url and secret are required). */
export function subscriptionProblems(payload: Row): Problem[] {
  return [eventTypesProblem(payload['event_types']), urlProblem(payload['url']), secretProblem(payload['secret'])].filter((p): p is Problem => p !== null);
}

/** Every delivery is signed with the secret: an empty one (Directus's required check lets "" through) signs nothing. */
function secretProblem(value: unknown): Problem | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.trim() !== '') return null;
  if (typeof value !== 'string') return { field: 'secret', message: `expected the text the deliveries are signed with, not ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}` };
  return { field: 'secret', message: 'expected the text the deliveries are signed with, not an empty one' };
}

function eventTypesProblem(value: unknown): Problem | null {
  // A json field may come as its text (an import, a client sending JSON text).
  const types = typeof value === 'string' ? parsedOrText(value) : value;
  if (types === undefined || types === null) return null;
  if (!Array.isArray(types) || !types.every((t) => typeof t === 'string')) {
    return { field: 'event_types', message: `expected a list of event types (empty or null for every type), not ${JSON.stringify(types)}` };
  }
  const unknown = types.filter((t) => !(KNOWN_TYPES as string[]).includes(t));
  if (unknown.length === 0) return null;
  return {
    field: 'event_types',
    message: `unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => JSON.stringify(t)).join(', ')}; the types are ${KNOWN_TYPES.join(', ')}`,
  };
}

/** The step POSTs over http or https only. The URL is not echoed back: it may carry a token or a password. */
function urlProblem(value: unknown): Problem | null {
  if (value === undefined || value === null) return null;
  const url = typeof value === 'string' && URL.canParse(value) ? new URL(value) : null;
  if (url?.protocol === 'http:' || url?.protocol === 'https:') return null;
  return { field: 'url', message: `expected an absolute http: or https: URL${url ? `, not ${url.protocol}` : ''}` };
}
