import { InvalidPayloadError } from '@directus/errors';
import type { Accountability } from '@directus/types';

export { parsedOrText } from './json-text.ts';

/** What is wrong with a row being written, and in which field. */
export type Problem = { field: string; message: string };

/** How long one caller's answer is reused: the rows of one import or list write, not a permission change. */
export const PERMISSION_ANSWER_MS = 5_000;

/** What a policy lets a caller do with a collection's items, as far as the bundle asks. */
export type PermissionAction = 'create' | 'read' | 'update' | 'delete';

/**
 * Whether any policy of the caller may make this write (or, for `read`, read the collection at all, whatever rows
 * its filter lets them see). Directus runs filters before its permission check: a caller who may not write is left
 * to that check, so it still answers 403 rather than telling the caller what a row needs.
 *
 * Directus hands every row of one request (a 300-row CSV import, a list PATCH) the request's own accountability
 * object, so the answer is kept on that object for a few seconds: one read of the permissions per request, not per
 * row. The time bound is for the one object that lives longer, a realtime (WebSocket) connection's.
 */
export function writePermission(database: any, now: () => number = Date.now) {
  const answers = new WeakMap<object, Map<string, { at: number; granted: Promise<boolean> }>>();

  const granted = async (collection: string, action: PermissionAction, accountability: Accountability): Promise<boolean> => {
    const roles = [accountability.role, ...((accountability as { roles?: string[] }).roles ?? [])].filter((r): r is string => Boolean(r));
    const row = await database('directus_permissions as p')
      .join('directus_access as a', 'a.policy', 'p.policy')
      .where({ 'p.collection': collection, 'p.action': action })
      .andWhere((q: any) => {
        q.whereIn('a.role', roles);
        if (accountability.user) q.orWhere('a.user', accountability.user);
      })
      .first('p.id');
    return Boolean(row);
  };

  return (collection: string, action: PermissionAction, accountability: Accountability | null | undefined): Promise<boolean> => {
    if (!accountability || accountability.admin) return Promise.resolve(true);
    let ofCaller = answers.get(accountability);
    if (!ofCaller) answers.set(accountability, (ofCaller = new Map()));
    const key = `${collection} ${action}`;
    const kept = ofCaller.get(key);
    if (kept && now() - kept.at < PERMISSION_ANSWER_MS) return kept.granted;
    const answer = { at: now(), granted: granted(collection, action, accountability) };
    ofCaller.set(key, answer);
    // A failed read is not an answer: the next row asks again.
    answer.granted.catch(() => ofCaller.get(key) === answer && ofCaller.delete(key));
    return answer.granted;
  };
}

/** A 400 naming the fields, with zod-shaped issues as the facts route gives them. */
export function refuse(problems: Problem[]): never {
  const issues = problems.map(({ field, message }) => ({ code: 'custom', path: [field], message }));
  // Directus ends the error's message with a full stop of its own.
  const reason = problems.map(({ field, message }) => `${field}: ${message}`).join('; ').replace(/\.$/, '');
  throw new InvalidPayloadError({ reason, issues } as never);
}
