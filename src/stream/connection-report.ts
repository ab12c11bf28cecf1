import type { Redis } from 'ioredis';

export interface ConnectionLog {
  warn(error: Error): void;
  back(): void;
}

/**
 * Says once that a Redis connection was lost and once that it is back. ioredis emits an error for every reconnection
 * attempt (several a second), and a client without an error listener prints each of them as unhandled.
 */
/** The usual report, to a pino logger. */
export function redisConnectionLog(log: { warn(obj: object, msg: string): void; info(msg: string): void }): ConnectionLog {
  return {
    warn: (error) => log.warn({ err: error }, 'redis connection lost; reconnecting'),
    back: () => log.info('redis connection back'),
  };
}

export function reportConnection(redis: Redis, log: ConnectionLog): void {
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    log.warn(error);
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.back();
  });
}

/** Connection states in which a command waits for a reconnection instead of being answered. */
const DOWN = new Set(['connecting', 'reconnecting', 'close', 'end']);

/**
 * Waits for `work` while the Redis connection is up; stops waiting (false) once it is down, now or before `work`
 * ends. For a process stopping: ioredis never settles a command that waits for a reconnection once its client is
 * disconnected (redis/ioredis#2169 and #2197), so a stop during a Redis outage would wait for ever. What is left
 * undone is what a crash leaves, which every consumer recovers from: entries not acknowledged are delivered again.
 */
export async function unlessRedisDown(redis: Redis, work: Promise<unknown>): Promise<boolean> {
  if (DOWN.has(redis.status)) return false;
  let onDown = () => undefined as void;
  const down = new Promise<false>((resolve) => (onDown = () => resolve(false)));
  redis.once('close', onDown);
  try {
    return await Promise.race([work.then(() => true), down]);
  } finally {
    redis.off('close', onDown);
  }
}

/** Ends a connection: QUIT when Redis answers, else at once (a QUIT would wait for a reconnection that never comes). */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
