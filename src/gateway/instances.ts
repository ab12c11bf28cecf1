import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export const GROUP_PREFIX = 'live-broadcast-';

/** The group of one gateway instance (CONTRACTS section 1). */
export const broadcastGroup = (instanceId: string) => `${GROUP_PREFIX}${instanceId}`;

const heartbeatKey = (stream: string, instanceId: string) => `pitwall:gateway:${stream}:instance:${instanceId}`;

/**
 * Keeps this instance's heartbeat in Redis and removes the broadcast groups of instances whose heartbeat ran out:
 * with instances coming and going behind a load balancer (new ids on every deploy), groups must not pile up.
 */
export class InstanceRegistry {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    readonly instanceId: string,
    private readonly ttlMs: number,
    private readonly log: Logger,
    private readonly onSwept?: (group: string) => void,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat()
        .then(() => this.sweep())
        .catch((error: unknown) => this.log.warn({ err: error }, 'gateway heartbeat failed'));
    }, Math.max(250, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    await this.redis.set(heartbeatKey(this.stream, this.instanceId), String(Date.now()), 'PX', this.ttlMs);
  }

  /** Destroys every broadcast group without a live heartbeat; returns the groups it removed. */
  async sweep(): Promise<string[]> {
    let groups: unknown[];
    try {
      groups = (await this.redis.xinfo('GROUPS', this.stream)) as unknown[];
    } catch {
      return [];
    }
    const swept: string[] = [];
    for (const raw of groups) {
      const flat = raw as unknown[];
      const name = String(flat[flat.indexOf('name') + 1]);
      if (!name.startsWith(GROUP_PREFIX)) continue;
      const owner = name.slice(GROUP_PREFIX.length);
      if (owner === this.instanceId) continue;
      if ((await this.redis.exists(heartbeatKey(this.stream, owner))) === 1) continue;
      await this.redis.xgroup('DESTROY', this.stream, name);
      swept.push(name);
      this.onSwept?.(name);
      this.log.info({ group: name }, 'removed the broadcast group of a gateway instance that is gone');
    }
    return swept;
  }

  /** On a graceful stop: this instance's group and heartbeat go with it. */
  async leave(group: string): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.redis.del(heartbeatKey(this.stream, this.instanceId));
    await this.redis.xgroup('DESTROY', this.stream, group).catch(() => undefined);
  }
}
