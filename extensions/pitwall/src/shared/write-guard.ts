import { InvalidPayloadError } from '@directus/errors';
import type { Accountability } from '@directus/types';

/** What is wrong with a row being written, and in which field. */
export type Problem = { field: string; message: string };

/**
 * Whether any policy of the caller may make this write. Directus runs filters before its permission check: a caller
 * who may not write is left to that check, so it still answers 403 rather than telling the caller what a row needs.
 */
export function writePermission(database: any) {
  return async (collection: string, action: 'create' | 'update', accountability: Accountability | null | undefined): Promise<boolean> => {
    if (!accountability || accountability.admin) return true;
    const roles = [accountability.role, ...((accountability as { roles?: string[] }).roles ?? [])].filter((r): r is string => Boolean(r));
    const granted = await database('directus_permissions as p')
      .join('directus_access as a', 'a.policy', 'p.policy')
      .where({ 'p.collection': collection, 'p.action': action })
      .andWhere((q: any) => {
        q.whereIn('a.role', roles);
        if (accountability.user) q.orWhere('a.user', accountability.user);
      })
      .first('p.id');
    return Boolean(granted);
  };
}

/** A 400 naming the fields, with zod-shaped issues as the facts route gives them. */
export function refuse(problems: Problem[]): never {
  const issues = problems.map(({ field, message }) => ({ code: 'custom', path: [field], message }));
  throw new InvalidPayloadError({ reason: problems.map(({ field, message }) => `${field}: ${message}`).join('; '), issues } as never);
}

/** A json or geometry field as Directus may hand it over: its text, parsed; text that is no JSON stays as it is. */
export function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
