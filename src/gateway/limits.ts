/**
 * A token bucket: `capacity` requests at once, then `perSecond`. One per connection limits its subscribe and
 * playback requests, each of which may cost a Directus lookup.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(readonly capacity: number, readonly perSecond: number, now = Date.now()) {
    this.tokens = capacity;
    this.at = now;
  }

  /** Takes a token: 0 when there was one, otherwise how many milliseconds until there is (nothing is taken). */
  take(now = Date.now()): number {
    // A clock set back does not take tokens away.
    this.tokens = Math.min(this.capacity, this.tokens + (Math.max(0, now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) / this.perSecond) * 1000));
  }
}

/** Why a task was not run: the queue was full, or it waited longer than allowed for a place. */
export class LimitRefused extends Error {
  override name = 'LimitRefused';

  constructor(readonly reason: 'queue-full' | 'queue-timeout', message: string) {
    super(message);
  }
}

interface Waiter {
  start: () => void;
  timer: NodeJS.Timeout;
}

/**
 * At most `maxRunning` tasks at once; the others wait in order, at most `maxQueued` of them and each at most
 * `maxWaitMs`, and beyond that are refused at once (LimitRefused) instead of piling up.
 */
export class ConcurrencyLimit {
  private active = 0;
  // A Set keeps insertion order: its first waiter is the oldest, and one that gave up leaves in O(1).
  private readonly waiting = new Set<Waiter>();

  constructor(readonly maxRunning: number, readonly maxQueued: number, readonly maxWaitMs: number) {}

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.active < this.maxRunning) {
      this.active++;
      return Promise.resolve();
    }
    if (this.waiting.size >= this.maxQueued) {
      return Promise.reject(new LimitRefused('queue-full', `${this.maxRunning} lookups are under way and ${this.waiting.size} waiting already`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        start: resolve,
        timer: setTimeout(() => {
          this.waiting.delete(waiter);
          reject(new LimitRefused('queue-timeout', `no lookup place came free within ${this.maxWaitMs} ms`));
        }, this.maxWaitMs),
      };
      waiter.timer.unref();
      this.waiting.add(waiter);
    });
  }

  private release(): void {
    const next = this.waiting.values().next();
    if (next.done) {
      this.active--;
      return;
    }
    // The place passes straight to the oldest waiter: `active` stays as it is.
    this.waiting.delete(next.value);
    clearTimeout(next.value.timer);
    next.value.start();
  }
}
