import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import type { Position } from '../../src/domain/position.ts';
import { toStreamFields } from '../../src/simulator/publish.ts';
import { runCli } from '../support/cli.ts';
import { PrivateRedis } from '../support/private-redis.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

describe('pitwall processor as a process', () => {
  it.each([
    [{}, /invalid configuration: DATABASE_URL: is required/],
    [{ DATABASE_URL: 'mysql://x' }, /invalid configuration: DATABASE_URL: invalid value/],
    [{ DATABASE_URL: 'postgres://x/y', REDIS_URL: 'localhost:6379' }, /invalid configuration: REDIS_URL: invalid value/],
    [{ DATABASE_URL: 'postgres://x/y', METRICS_PORT: 'ninety' }, /invalid configuration: METRICS_PORT: invalid value/],
    [{ DATABASE_URL: 'postgres://x/y', PROCESSOR_BATCH_SIZE: '-5' }, /invalid configuration: PROCESSOR_BATCH_SIZE: invalid value/],
  ])('refuses to start with %j and names the variable', async (env, message) => {
    const result = await runCli(['processor'], env);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(message);
  });

  // A second instance started on the first one's metrics port (a copied unit file, a port left in an env file) must
  // fail where a supervisor sees it. It held its Redis and Postgres connections open and did nothing for ever: no
  // shard, no metrics, its consumer name taken, and a killed first instance's shards stayed without an owner.
  it.each(['processor', 'exporter', 'gateway'])('%s: exits with 1 when its metrics port is taken, after saying so', async (command) => {
    const holder = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => holder.listen(0, '0.0.0.0', resolve));
    const port = (holder.address() as AddressInfo).port;
    const stream = `test:telemetry:${randomUUID()}`;
    const exportDir = mkdtempSync(join(tmpdir(), 'pitwall-export-'));
    try {
      const result = await runCli([command], { DATABASE_URL: stack.databaseUrl, REDIS_URL, REDIS_TELEMETRY_STREAM: stream, METRICS_PORT: String(port), LIVE_WS_PORT: String(await freePort()), EXPORT_DIR: exportDir, ...(command === 'gateway' ? { DIRECTUS_URL: stack.directusUrl } : {}) }, 30_000);
      expect(result.code).toBe(1);
      expect(result.stdout + result.stderr).toMatch(/EADDRINUSE/);
      expect(result.stdout).toMatch(new RegExp(`"msg":"${command} could not start"`));
      // Redis answered all along: its closing said it did not (a tester read it as a Redis outage).
      expect(result.stdout + result.stderr).not.toMatch(/Redis is unreachable/);
    } finally {
      holder.close();
      rmSync(exportDir, { recursive: true, force: true });
      const redis = new Redis(REDIS_URL);
      await redis.del(stream, `${stream}:dead-letter`);
      redis.disconnect();
    }
  }, 40_000);

  // ioredis never settles a command waiting for a reconnection once its client is disconnected: each service waited
  // for its read (and the processor for QUIT) for ever, and only a SIGKILL ended it.
  it.each(['processor', 'exporter', 'gateway'])('%s: stops at once on SIGTERM while Redis is down', async (command) => {
    const privateRedis = await PrivateRedis.start();
    const metricsPort = await freePort();
    const exportDir = mkdtempSync(join(tmpdir(), 'pitwall-export-'));
    const env = { DATABASE_URL: stack.databaseUrl, REDIS_URL: privateRedis.url, REDIS_TELEMETRY_STREAM: `test:telemetry:${randomUUID()}`, METRICS_PORT: String(metricsPort), LIVE_WS_PORT: String(await freePort()), EXPORT_DIR: exportDir, ...(command === 'gateway' ? { DIRECTUS_URL: stack.directusUrl } : {}) };
    const child = spawn(join(repoRoot, 'bin/pitwall'), [command], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (chunk) => (log += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => null))?.ok, { timeoutMs: 30_000, what: `${command} healthy` });
      await privateRedis.stop();
      await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`))?.status === 503, { timeoutMs: 10_000, what: `${command} to see Redis gone` });
      const asked = performance.now();
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
      expect(code).toBe(0);
      expect(performance.now() - asked).toBeLessThan(5_000);
      expect(log).toMatch(/"signal":"SIGTERM"/);
    } finally {
      child.kill('SIGKILL');
      await privateRedis.remove();
      rmSync(exportDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('logs its stream and group, and serves /healthz and /metrics with consumer lag', async () => {
    const stream = `test:telemetry:${randomUUID()}`;
    const port = await freePort();
    const child = spawn(join(repoRoot, 'bin/pitwall'), ['processor'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: stack.databaseUrl, REDIS_URL, REDIS_TELEMETRY_STREAM: stream, METRICS_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (chunk) => (log += chunk));
    const redis = new Redis(REDIS_URL);
    try {
      const health = await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.ok ? res.json() : undefined;
      }, { what: 'healthz' });
      expect(health).toMatchObject({ ok: true, redis: true, postgres: true });
      // The group is made as the consumer starts, just after the metrics server.
      const metrics = await waitFor(async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return text.includes(`pitwall_consumer_lag{stream="${stream}",group="processor"} 0`) && text;
      }, { what: 'the lag of group processor' });
      expect(metrics).toContain(`pitwall_consumer_pending{stream="${stream}",group="processor"} 0`);
      expect(metrics).toContain('pitwall_positions_stored_total');
      const started = log.split('\n').filter(Boolean).map((line) => JSON.parse(line)).find((l) => l.msg === 'processor starting');
      expect(started).toMatchObject({ stream, group: 'processor', deadLetterStream: `${stream}:dead-letter` });
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await redis.del(stream);
      redis.disconnect();
    }
    expect(child.exitCode).toBe(0);
  });

  it('drains a backlog at a lower priority and takes its priority back once caught up', async () => {
    const stream = `test:telemetry:${randomUUID()}`;
    const redis = new Redis(REDIS_URL);
    // Eight reads' worth of fixes waiting before it starts: a backlog, as after an outage.
    const start = Date.parse('2026-03-01T08:00:00Z');
    const fleet = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    const pipeline = redis.pipeline();
    for (let i = 0; i < 800; i += 1) {
      const deviceId = `9${fleet}${String(i % 40).padStart(8, '0')}`;
      const fix = { deviceId, ts: start + i * 1000, latitude: 31.43, longitude: -4.23, altitude: 760, angle: 96, speed: 87, satellites: 11, priority: 0, codec: '8E', attributes: {} };
      pipeline.xadd(stream, '*', ...toStreamFields(fix as Position));
    }
    await pipeline.exec();
    const port = await freePort();
    const child = spawn(join(repoRoot, 'bin/pitwall'), ['processor'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: stack.databaseUrl, REDIS_URL, REDIS_TELEMETRY_STREAM: stream, METRICS_PORT: String(port), PROCESSOR_BATCH_SIZE: '100' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (chunk) => (log += chunk));
    const lines = () => log.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; nice?: number });
    try {
      const caughtUp = await waitFor(async () => lines().find((l) => l.msg.startsWith('caught up with the stream')), { what: 'the processor caught up' });
      expect(caughtUp.nice).toBe(0);
      const drain = lines().find((l) => l.msg.startsWith('draining a backlog'));
      expect(drain?.nice).toBe(10);
      // The last batch may still be being stored when the read after it finds the end.
      const metrics = await waitFor(async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /^pitwall_positions_stored_total 800$/m.test(text) && text;
      }, { what: 'all 800 positions stored' });
      expect(metrics).toMatch(/^pitwall_processor_nice 0$/m);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await redis.del(stream, `${stream}:dead-letter`);
      redis.disconnect();
    }
  });
});
