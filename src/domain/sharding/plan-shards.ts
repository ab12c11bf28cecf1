/** Who holds which shard now (from the leases), and who is alive (from the heartbeats). */
export interface ShardView {
  shardCount: number;
  /** shard -> instance holding its lease; a shard missing here is free. */
  owners: ReadonlyMap<number, string>;
  /** Live instances, this one included. */
  members: readonly string[];
}

export interface ShardPlan {
  /** Free shards to take, lowest first. */
  acquire: number[];
  /** Own shards to hand back (this instance holds more than its share while another holds less). */
  release: number[];
}

/**
 * What this instance should do to reach an even spread with as few moves as possible (sticky, like Kafka's sticky
 * assignor): keep what it holds up to its share, take free shards up to it, and give back only its surplus. Shares
 * differ by at most one; the instances first in name order get the larger shares, so every instance computes the
 * same targets.
 */
export function planShards(view: ShardView, me: string): ShardPlan {
  const members = [...new Set([...view.members, me])].sort();
  const base = Math.floor(view.shardCount / members.length);
  const larger = view.shardCount % members.length;
  const share = base + (members.indexOf(me) < larger ? 1 : 0);
  const mine: number[] = [];
  const free: number[] = [];
  for (let shard = 0; shard < view.shardCount; shard++) {
    const owner = view.owners.get(shard);
    if (owner === me) mine.push(shard);
    // A shard whose holder is no member any more is free: its lease is about to run out anyway.
    else if (owner === undefined || !members.includes(owner)) free.push(shard);
  }
  if (mine.length > share) return { acquire: [], release: mine.slice(share).reverse() };
  return { acquire: free.slice(0, share - mine.length), release: [] };
}
