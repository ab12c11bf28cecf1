import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './stack.ts';
import { stopChild } from './cli.ts';
import { waitFor } from './wait-for.ts';

/**
 * A Redis server of the test's own, which it can restart without disturbing the suites that share the machine's.
 * It keeps nothing on disk, as this machine's Redis: a restart loses every stream, group, lease and offset.
 */
export class PrivateRedis {
  private server: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async up(): Promise<void> {
    this.server = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(async () => (await probe.connect().then(() => probe.ping(), () => null)) === 'PONG', { timeoutMs: 10_000, what: `redis-server on port ${this.port}` });
    } finally {
      probe.disconnect();
    }
  }

  /** Stops the server (its clients see their connections drop) and starts it again, empty, on the same port. */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.up();
  }

  async stop(): Promise<void> {
    if (this.server) await stopChild(this.server, 'SIGKILL');
    this.server = null;
  }
}
