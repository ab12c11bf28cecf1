import { catalogue, type RaceEventType } from './catalogue.ts';

const SOURCES = ['live', 'replay', 'backfill', 'system'];

/**
 * What is wrong with a race event that a person writes through the API (an admin sending a test event to an
 * integrator's Flow), in which field, or null. Every active Flow and subscriber hears it as a real one, so its type
 * must be one of the catalogue's and its source one of the envelope's: a receiver switching on the type would meet
 * a type no document names. The payload is the sender's to fill (a test event may leave fields out), but it is an
 * object, as every receiver reads it.
 */
export function handEventProblem(item: Record<string, unknown>): { field: string; message: string } | null {
  const { type, source, version, payload } = item;
  if (typeof type !== 'string' || !Object.hasOwn(catalogue, type)) {
    return { field: 'type', message: `expected one of the catalogue's types (${Object.keys(catalogue).join(', ')}), got ${JSON.stringify(type) ?? 'nothing'}` };
  }
  if (source !== undefined && !SOURCES.includes(source as string)) return { field: 'source', message: `expected one of ${SOURCES.join(', ')}, got ${JSON.stringify(source)}` };
  if (version !== undefined && version !== catalogue[type as RaceEventType].version) {
    return { field: 'version', message: `${type} is at version ${catalogue[type as RaceEventType].version} of the catalogue, got ${JSON.stringify(version)}` };
  }
  const object = typeof payload === 'string' ? parsed(payload) : payload;
  if (payload !== undefined && (typeof object !== 'object' || object === null || Array.isArray(object))) return { field: 'payload', message: 'expected a JSON object' };
  // Stored as json, but handed to webhooks through jsonb, which holds neither a NUL nor a lone surrogate: the event
  // would never be delivered.
  if (payload !== undefined && holdsUnstorable(object)) {
    return { field: 'payload', message: 'must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates, which no webhook delivery can carry' };
  }
  return null;
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Whether a string or key of a JSON value holds a NUL or a lone surrogate: JSON.stringify writes both as escapes
 * (a paired surrogate as itself), found outside the escaped backslashes.
 */
function holdsUnstorable(value: unknown): boolean {
  return /\\u0000|\\ud[89a-f][0-9a-f]{2}/.test(JSON.stringify(value).replaceAll('\\\\', ''));
}
