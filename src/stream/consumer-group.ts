import type { Redis } from 'ioredis';
import { countEntriesAfter } from './count-entries.ts';

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
  /** The last entry id handed to the group's consumers. */
  lastDeliveredId: string;
}

/** A flat XINFO reply ([name, value, name, value, ...]) as a record. */
export function xinfoRecord(flat: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const list = flat as unknown[];
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
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
    const info = xinfoRecord(raw);
    if (info.name !== group) continue;
    return {
      lag: info.lag === null || info.lag === undefined ? null : Number(info.lag),
      pending: Number(info.pending ?? 0),
      consumers: Number(info.consumers ?? 0),
      lastDeliveredId: String(info['last-delivered-id'] ?? '0-0'),
    };
  }
  return null;
}

/** XINFO GROUPS for one group, its `lag` counted by unreadEntries rather than taken from Redis; null as groupInfo. */
export async function groupWithUnread(redis: Redis, stream: string, group: string): Promise<GroupInfo | null> {
  const info = await groupInfo(redis, stream, group);
  return info && { ...info, lag: await unreadEntries(redis, stream, info) };
}

/**
 * The entries of the stream after the group's last delivered one, counted up to `limit`: Redis's own `lag` rests on
 * the group's entries-read counter, which a Redis restarted from its append-only file brought back stale for a group
 * read inside MULTI (the exporter's fenced reads) and never put right, so a caught-up group read as thousands behind,
 * for good. Past `limit`, Redis's figure where it is at least that (a backlog that large is what it says), else `limit`.
 */
export async function unreadEntries(redis: Redis, stream: string, group: GroupInfo, limit = 1000): Promise<number> {
  const { count, complete } = await countEntriesAfter(redis, stream, group.lastDeliveredId, limit);
  if (complete) return count;
  return group.lag !== null && group.lag >= count ? group.lag : count;
}
