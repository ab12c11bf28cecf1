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
