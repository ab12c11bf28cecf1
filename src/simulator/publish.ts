import type { Redis } from 'ioredis';
import type { Position } from '../domain/position.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** The stream entry the tcp-ingestion service writes for one fix (CONTRACTS section 1). */
export function toStreamFields(fix: Position): string[] {
  const timestamp = new Date(fix.ts).toISOString();
  const payload = {
    device_id: fix.deviceId,
    timestamp,
    latitude: fix.latitude,
    longitude: fix.longitude,
    altitude: fix.altitude,
    angle: fix.angle,
    speed: fix.speed,
    satellites: fix.satellites,
    priority: fix.priority,
    attributes: fix.attributes,
  };
  return ['ts', timestamp, 'device_id', fix.deviceId, 'codec', fix.codec, 'payload', JSON.stringify(payload)];
}

export interface PublishOptions {
  /** 0: as fast as Redis takes them; 1: real time; 10: ten times faster than real time. */
  speed: number;
  /**
   * At speed 1, each fix is due at its own GPS time rather than paced from the first: those dated in the past go at
   * once, as a fleet uploads what it buffered, and the rest as they happen (a resumed demo round, which paced from its
   * first fix would run behind the clock by the time it was stopped).
   */
  atGpsTime?: boolean;
  batch?: number;
  signal?: AbortSignal;
  onProgress?: (sent: number) => void;
}

/** XADDs the fixes in order, pipelined, paced by their GPS time when a speed is given (see atGpsTime). */
export async function publishFixes(redis: Redis, stream: string, fixes: readonly Position[], options: PublishOptions): Promise<number> {
  const { speed, batch = 500, signal, onProgress } = options;
  const atGpsTime = options.atGpsTime === true && speed === 1;
  const wallStart = Date.now();
  const simStart = fixes[0]?.ts ?? 0;
  let sent = 0;
  while (sent < fixes.length && !signal?.aborted) {
    let end = Math.min(fixes.length, sent + batch);
    if (speed > 0) {
      const dueAt = (fix: Position) => (atGpsTime ? fix.ts : wallStart + (fix.ts - simStart) / speed);
      const wait = dueAt(fixes[sent]!) - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      const now = Date.now();
      end = sent + 1;
      while (end < fixes.length && end - sent < batch && dueAt(fixes[end]!) <= now) end++;
    }
    const pipeline = redis.pipeline();
    for (let i = sent; i < end; i++) pipeline.xadd(stream, '*', ...toStreamFields(fixes[i]!));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
    sent = end;
    onProgress?.(sent);
  }
  return sent;
}
