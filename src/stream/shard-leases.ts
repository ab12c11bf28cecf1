import type { Redis } from 'ioredis';
import { DELETE_IF_MINE, RENEW_IF_MINE } from './lease.ts';

/**
 * Leases on shards of one stream, kept in Redis. Each shard's keys share a hash tag of their own
 * (`{<stream>:shard:<n>}`), so in a Redis Cluster the shards spread over the nodes while a shard's lease and offset
 * stay together, and the commit below can check one and write the other atomically.
 */
export class ShardLeases {
  constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    readonly instanceId: string,
    /** A lease not renewed for this long is free: a killed instance's shards move after at most this. */
    readonly leaseMs: number,
  ) {}

  private owner = (shard: number) => `pitwall:{${this.stream}:shard:${shard}}:owner`;
  private offset = (shard: number) => `pitwall:{${this.stream}:shard:${shard}}:offset`;
  private get members(): string {
    return `pitwall:{${this.stream}}:processors`;
  }

  /** The PROCESSOR_SHARDS the running instances split the stream into, kept while any of them beats. */
  private get shardCountKey(): string {
    return `pitwall:{${this.stream}}:shard-count`;
  }

  /**
   * Claims the shard count for this instance, or returns the count the running instances use where it differs. An
   * instance started with another PROCESSOR_SHARDS made the others hand back the shards past its count, which nobody
   * then took: half the trackers were stored by no one, while every /healthz said ok. The count is kept for a lease
   * after the last instance stops, so a fleet restarted with a new count starts once the old one is gone.
   */
  async claimShardCount(count: number): Promise<number | null> {
    const held = await this.redis.eval(CLAIM_COUNT, 1, this.shardCountKey, String(count), this.leaseMs);
    return held === 'OK' ? null : Number(held);
  }

  private get identity(): string {
    return `pitwall:{${this.stream}}:processor-identity:${this.instanceId}`;
  }

  /**
   * Claims this instance's name: two processes with one PROCESSOR_CONSUMER would each believe they hold the same
   * shards. Returns false while another process holds it (or this one before a crash, until its claim runs out).
   */
  async claimIdentity(nonce: string): Promise<boolean> {
    const set = await this.redis.set(this.identity, nonce, 'PX', this.leaseMs, 'NX');
    if (set === 'OK') return true;
    return (await this.redis.get(this.identity)) === nonce;
  }

  /**
   * Renews this instance's name and membership; returns the live members (this one included), and whether the name
   * had to be claimed again: it was gone from Redis (Redis restarted without its data, or this process was stopped
   * for longer than a lease), so every lease of this instance is gone with it.
   */
  async heartbeat(nonce: string, shardCount: number, now = Date.now()): Promise<{ members: string[]; reclaimed: boolean }> {
    const renewed = await this.redis.eval(RENEW_OR_CLAIM, 1, this.identity, nonce, this.leaseMs);
    if (renewed === 0) throw new Error(`another process now runs as "${this.instanceId}" (PROCESSOR_CONSUMER must be unique)`);
    const other = await this.claimShardCount(shardCount);
    if (other !== null) throw new Error(`the other processors now split the stream into ${other} shards, this one into ${shardCount} (PROCESSOR_SHARDS must be the same for all)`);
    await this.redis.zadd(this.members, now, this.instanceId);
    await this.redis.zremrangebyscore(this.members, '-inf', now - this.leaseMs);
    return { members: await this.redis.zrange(this.members, 0, -1), reclaimed: renewed === 2 };
  }

  /** Who holds each shard now (a pipeline of single-key reads: fine across cluster slots). */
  async owners(shardCount: number): Promise<Map<number, string>> {
    const pipeline = this.redis.pipeline();
    for (let shard = 0; shard < shardCount; shard++) pipeline.get(this.owner(shard));
    const replies = (await pipeline.exec()) ?? [];
    const owners = new Map<number, string>();
    replies.forEach(([error, value], shard) => {
      if (!error && typeof value === 'string') owners.set(shard, value);
    });
    return owners;
  }

  async acquire(shard: number): Promise<boolean> {
    return (await this.redis.set(this.owner(shard), this.instanceId, 'PX', this.leaseMs, 'NX')) === 'OK';
  }

  /** Extends the leases this instance still holds; returns the shards it no longer holds. */
  async renew(shards: readonly number[]): Promise<number[]> {
    const lost: number[] = [];
    for (const shard of shards) {
      if ((await this.redis.eval(RENEW_IF_MINE, 1, this.owner(shard), this.instanceId, this.leaseMs)) !== 1) lost.push(shard);
    }
    return lost;
  }

  async release(shard: number): Promise<void> {
    await this.redis.eval(DELETE_IF_MINE, 1, this.owner(shard), this.instanceId);
  }

  /** Where the shard's processing stands: the last stream id whose entries of the shard are stored; null if never. */
  async committed(shard: number): Promise<string | null> {
    return this.redis.get(this.offset(shard));
  }

  /**
   * Records progress for each shard only while this instance still holds its lease (and extends it); false for a
   * shard it lost. One round trip for all: a batch covers every shard this instance holds, and a command each, a
   * socket write each, was most of what a small live batch cost the processor's thread.
   */
  async commitAll(shards: readonly number[], id: string): Promise<boolean[]> {
    const pipeline = this.redis.pipeline();
    for (const shard of shards) pipeline.eval(COMMIT_IF_MINE, 2, this.owner(shard), this.offset(shard), this.instanceId, id, this.leaseMs);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
    return results.map(([, value]) => value === 1);
  }

  /** Every shard's committed offset (null where none yet). */
  async allCommitted(shardCount: number): Promise<(string | null)[]> {
    const pipeline = this.redis.pipeline();
    for (let shard = 0; shard < shardCount; shard++) pipeline.get(this.offset(shard));
    return ((await pipeline.exec()) ?? []).map(([error, value]) => (error ? null : (value as string | null)));
  }

  async leave(nonce: string): Promise<void> {
    await this.redis.zrem(this.members, this.instanceId);
    await this.redis.eval(DELETE_IF_MINE, 1, this.identity, nonce);
  }
}

// OK: the count is this one's (set or kept alive); otherwise the count held.
const CLAIM_COUNT = `
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'OK'`;

// 1: renewed; 2: the name was free and is claimed again; 0: another process holds it.
const RENEW_OR_CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2`;

// Offsets only move forward: a late commit of an older batch never takes a shard back.
const COMMIT_IF_MINE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local old = redis.call('GET', KEYS[2])
if old then
  local oms, oseq = string.match(old, '^(%d+)-(%d+)$')
  local nms, nseq = string.match(ARGV[2], '^(%d+)-(%d+)$')
  if #oms > #nms or (#oms == #nms and (oms > nms or (oms == nms and tonumber(oseq) > tonumber(nseq)))) then return 1 end
end
redis.call('SET', KEYS[2], ARGV[2])
return 1`;
