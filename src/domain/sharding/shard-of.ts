/**
 * The shard of a tracker: FNV-1a of its shard key (its IMEI, or for a car with several trackers the smallest IMEI
 * of them, so one instance times the car from all of them) modulo the shard count. The same on every instance and
 * across restarts, so a device's entries always go to the same shard.
 */
export function shardOf(key: string, shardCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shardCount;
}

/**
 * Each tracker's shard key: the smallest IMEI among the trackers of the entries it is assigned to (itself when it
 * has no entry, or is its entry's only tracker). A car's primary and backup then share a shard, so the instance that
 * times the car sees both.
 */
export function shardKeys(assignments: ReadonlyMap<string, readonly { entryId: string }[]>): Map<string, string> {
  const trackersOfEntry = trackersByEntry(assignments);
  const keys = new Map<string, string>();
  for (const [deviceId, list] of assignments) {
    let key = deviceId;
    for (const { entryId } of list) for (const other of trackersOfEntry.get(entryId) ?? []) if (other < key) key = other;
    if (key !== deviceId) keys.set(deviceId, key);
  }
  return keys;
}

/** The trackers of each entry, from each tracker's entries. */
export function trackersByEntry(assignments: ReadonlyMap<string, readonly { entryId: string }[]>): Map<string, string[]> {
  const trackersOfEntry = new Map<string, string[]>();
  for (const [deviceId, list] of assignments) {
    for (const { entryId } of list) {
      const trackers = trackersOfEntry.get(entryId) ?? [];
      trackers.push(deviceId);
      trackersOfEntry.set(entryId, trackers);
    }
  }
  return trackersOfEntry;
}
