import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './stack.ts';
import { stopChild } from './cli.ts';
import { waitFor } from './wait-for.ts';

/**
 * A Redis server of the test's own, which it can restart without disturbing the suites that share the machine's.
 * It keeps nothing on disk, as this machine's Redis: a restart loses every stream, group, lease and offset, unless
 * the test took a snapshot (`SAVE`) and restarts from it, as a Redis with persistence goes back to its last one.
 */
export class PrivateRedis {
  private server: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    /** Where `SAVE` puts its snapshot; nothing is written there otherwise. */
    private readonly dir: string,
  ) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), await mkdtemp(join(tmpdir(), 'pitwall-redis-')));
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async up(): Promise<void> {
    this.server = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(async () => (await probe.connect().then(() => probe.ping(), () => null)) === 'PONG', { timeoutMs: 10_000, what: `redis-server on port ${this.port}` });
    } finally {
      probe.disconnect();
    }
  }

  /** Freezes the server (SIGSTOP): its connections stay open and what clients send waits unanswered. */
  freeze(): void {
    this.server?.kill('SIGSTOP');
  }

  /**
   * Stops the server (its clients see their connections drop) and starts it again on the same port: empty, or with
   * what the last `SAVE` kept when `fromSnapshot`.
   */
  async restart(downMs = 0, { fromSnapshot = false } = {}): Promise<void> {
    await this.stop();
    if (!fromSnapshot) await rm(join(this.dir, 'dump.rdb'), { force: true });
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.up();
  }

  async stop(): Promise<void> {
    if (this.server) await stopChild(this.server, 'SIGKILL');
    this.server = null;
  }

  /** Stops the server and removes its directory. */
  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
