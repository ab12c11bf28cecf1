import type { ApiExtensionContext, SchemaOverview } from '@directus/types';

interface PurgeContext {
  services: ApiExtensionContext['services'];
  database: ApiExtensionContext['database'];
  schema: SchemaOverview;
  /** Directus's environment, as it parsed it (CACHE_AUTO_PURGE a boolean, its ignore list an array). */
  env?: Record<string, unknown>;
}

/**
 * Clears Directus's data cache after rows of `collections` were written beside ItemsService, as ItemsService does after
 * its own writes when CACHE_AUTO_PURGE is on (unless every collection written is on CACHE_AUTO_PURGE_IGNORE_LIST):
 * otherwise cached `/items` answers would show the rows as they were until CACHE_TTL runs out. The cache is reached
 * through an ItemsService, whose own it is: extensions are not given Directus's getCache.
 */
export async function purgeDataCache({ services, database, schema, env }: PurgeContext, collections: readonly string[]): Promise<void> {
  if (env?.['CACHE_AUTO_PURGE'] !== true) return;
  const ignored = Array.isArray(env['CACHE_AUTO_PURGE_IGNORE_LIST']) ? (env['CACHE_AUTO_PURGE_IGNORE_LIST'] as unknown[]) : [];
  const collection = collections.find((name) => !ignored.includes(name));
  if (collection === undefined) return;
  const { cache } = new services.ItemsService(collection, { knex: database, schema }) as { cache?: { clear(): Promise<void> } | null };
  await cache?.clear();
}
