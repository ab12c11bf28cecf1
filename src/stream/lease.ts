import type { Redis } from 'ioredis';

/** Extends a key's time to live only while it still holds the caller's value. */
export const RENEW_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0`;
/** Deletes a key only while it still holds the caller's value. */
export const DELETE_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end return 0`;

/**
 * One named lease in Redis: whoever holds it is the only one doing the work it guards, until it stops renewing and
 * the lease runs out (a killed holder's work moves after at most `leaseMs`).
 */
export class Lease {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    /** Unique per holder: its name and a random part, so a restarted holder does not mistake the old lease for its own. */
    readonly holder: string,
    readonly leaseMs: number,
  ) {}

  async acquire(): Promise<boolean> {
    return (await this.redis.set(this.key, this.holder, 'PX', this.leaseMs, 'NX')) === 'OK';
  }

  /** False when the lease is no longer this holder's. */
  async renew(): Promise<boolean> {
    return (await this.redis.eval(RENEW_IF_MINE, 1, this.key, this.holder, this.leaseMs)) === 1;
  }

  async release(): Promise<void> {
    await this.redis.eval(DELETE_IF_MINE, 1, this.key, this.holder);
  }
}
