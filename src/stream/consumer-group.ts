import type { Redis } from 'ioredis';

/** Creates the group (and the stream) if missing; an existing group is left exactly as it is. */
export async function ensureGroup(redis: Redis, stream: string, group: string, startId = '0'): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('BUSYGROUP')) throw error;
  }
}

export interface GroupInfo {
  lag: number | null;
  pending: number;
  consumers: number;
}

/** XINFO GROUPS for one group. `lag` is what the group has not yet read (Redis 7); null when Redis cannot tell. */
export async function groupInfo(redis: Redis, stream: string, group: string): Promise<GroupInfo | null> {
  let groups: unknown[];
  try {
    groups = (await redis.xinfo('GROUPS', stream)) as unknown[];
  } catch {
    return null;
  }
  for (const raw of groups) {
    const flat = raw as (string | number | null)[];
    const info: Record<string, string | number | null> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) info[String(flat[i])] = flat[i + 1]!;
    if (info.name !== group) continue;
    return {
      lag: info.lag === null || info.lag === undefined ? null : Number(info.lag),
      pending: Number(info.pending ?? 0),
      consumers: Number(info.consumers ?? 0),
    };
  }
  return null;
}
