/**
 * Live gateway fan-out, stream XADD to viewer receipt (BENCHMARKS.md, `gateway`).
 *
 * A real test stack (Directus 11 with the bundle, setup and the demo race) on a scratch database, where the bench
 * registers `--events` events, each with `--devices` entries carrying one tracker (entries, devices, entry_devices
 * through Directus as an organiser would), and `--users` Race Control users with static tokens. The real gateway runs
 * as its own process (`bin/pitwall gateway`, configured only through its environment) on a stream of its own.
 * `--clients` WebSocket viewers, split over `--workers` processes, connect with the users' tokens in turn (so the
 * gateway's Directus answers are shared: about one `/users/me` per token and one event check per user and event)
 * and each subscribes to one event (client c to event c mod `--events`).
 *
 * Beside it, for comparison, a bare broadcast with nothing else (no auth, no subscribe, no topics hub, no
 * slow-viewer checks): its own process reading a second stream with XREAD, making each entry the same message bytes
 * (the same parse as the gateway) and writing them to the sockets of that event the way the gateway writes (a frame
 * built once, each socket corked for the turn of the event loop), with as many viewers again, in the same client
 * processes. Both servers are up at once and the phases alternate between them, so that the load other work puts on
 * the machine falls on both alike.
 *
 * The bench XADDs well-formed entries (CONTRACTS section 1, as the simulator writes them) for the registered
 * trackers, round robin over the events, to one server's stream at a time:
 * - warm-up: `--warmup` seconds at the paced rate, delivered and counted but left out of every figure;
 * - paced: `--rate` positions per second for `--seconds` (by default 400/s, each to the 250 viewers of its event:
 *   100,000 messages/s); `p50_ms`/`p99_ms` are from this phase: from the XADD (the entry id's milliseconds, so each
 *   figure may be up to 1 ms high) to the viewer's receipt;
 * - bursts, `--repeat` times for each server in turn: `--burst` positions XADDed as fast as Redis takes them;
 *   `messages_per_s` is the median over the gateway's bursts of what reached the viewers per second, first XADD
 *   to last receipt: the most the gateway delivers with these clients on this machine.
 * `lost`: positions of a viewer's event, over every phase, that the viewer never received. `ratio` = gateway
 * `messages_per_s` / bare `messages_per_s`: what the gateway's own work costs. Last, `--plain-burst` positions
 * through the bare server with `ws.send` per socket and frame, as ws's documentation broadcasts
 * (`bare_plain_messages_per_s`): what the way of writing is worth on this machine.
 *
 * CPU is read for the gateway and the bare server from /proc (fraction of one core) and for the clients from
 * `process.cpuUsage`; the machine has 2 cores shared by all of them, Redis and the bench.
 *
 *   npm run bench -- gateway [--clients 5000] [--events 20] [--devices 20] [--users 5] [--workers 2]
 *                            [--rate 400] [--seconds 10] [--warmup 2] [--burst 4000] [--repeat 3]
 *                            [--plain-burst 500] [--timeout 20]
 * PITWALL_GATEWAY_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gateway process.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';
import { demoId, demoImei } from '../src/demo/demo-race.ts';
import { repoRoot } from '../src/devstack/directus-process.ts';
import { toPositionEntry, unmappableReason } from '../src/domain/live/position-entry.ts';
import { parseStreamEntry } from '../src/domain/parse-stream-entry.ts';
import type { Position } from '../src/domain/position.ts';
import { sharedFrame } from '../src/gateway/viewer.ts';
import { toStreamFields } from '../src/simulator/publish.ts';
import { connectDb, type Db } from '../src/store/db.ts';
import { toStreamEntries } from '../src/stream/stream-entry.ts';
import { adminToken, call } from '../test/support/directus-client.ts';
import { freePort, REDIS_URL, startTestStack, type TestStack } from '../test/support/stack.ts';
import { cleanUp, measuredOn, progressFor, report } from './support.ts';

// ---- Messages between the bench and its child processes ---------------------------------------------------------

/** Which server a viewer is connected to: 0 the gateway, 1 the bare broadcast. */
type ServerIndex = 0 | 1;

/** One viewer a client process opens: where, with which token, and which event it follows. */
interface ClientSpec {
  server: ServerIndex;
  url: string;
  token: string | null;
  /** The event id; subscribed to as `event:<id>` when `subscribe` is set (the gateway), else part of the URL. */
  event: string;
  subscribe: boolean;
}

type Command =
  | { cmd: 'connect'; clients: ClientSpec[]; concurrency: number }
  | { cmd: 'phase'; server: ServerIndex; from: string }
  | { cmd: 'collect' }
  | { cmd: 'close' };

interface Connected {
  type: 'connected';
  ok: number;
  failed: number;
  firstError: string | null;
}

/** What one client process saw in a phase: per viewer counts, a latency histogram, and when the last arrived. */
interface PhaseResult {
  type: 'phase-result';
  received: number[];
  outOfOrder: number;
  /** Latency histogram, 0.1 ms buckets, as [bucket, count] pairs. */
  histogram: [number, number][];
  lastReceiptAt: number;
  cpuMs: number;
  closes: Record<string, number>;
  errors: number;
}

type Reply = Connected | PhaseResult | { type: 'ok' } | { type: 'progress'; received: number };

const BUCKET_MS = 0.1;
const BUCKETS = 600_000; // 60 s; later receipts land in the last bucket

// ---- Client process: `--role clients` ----------------------------------------------------------------------------

const POSITION_PREFIX = Buffer.from('{"type":"position"');
const CURSOR_KEY = Buffer.from('"cursor":"');

/** Reads "<ms>-<seq>" after `"cursor":"` from the frame's bytes, without parsing the whole message. */
function cursorOf(data: Buffer): [number, number] | null {
  const at = data.indexOf(CURSOR_KEY);
  if (at < 0) return null;
  let i = at + CURSOR_KEY.length;
  let ms = 0;
  for (let c = data[i]!; c >= 48 && c <= 57; c = data[++i]!) ms = ms * 10 + (c - 48);
  if (data[i] !== 45) return null;
  let seq = 0;
  for (let c = data[++i]!; c >= 48 && c <= 57; c = data[++i]!) seq = seq * 10 + (c - 48);
  return [ms, seq];
}

function runClients(): void {
  const send = (reply: Reply) => process.send!(reply);
  let sockets: WebSocket[] = [];
  let received = new Int32Array(0);
  let lastMs = new Float64Array(0);
  let lastSeq = new Float64Array(0);
  let histogram = new Uint32Array(BUCKETS);
  let servers = new Uint8Array(0);
  let counted: ServerIndex = 0;
  let fromMs = Number.POSITIVE_INFINITY;
  let fromSeq = 0;
  let total = 0;
  let outOfOrder = 0;
  let lastReceiptAt = 0;
  let errors = 0;
  let closes: Record<string, number> = {};
  let cpuAt = process.cpuUsage();
  let closing = false;
  const now = () => performance.timeOrigin + performance.now();

  const onPosition = (i: number, data: Buffer) => {
    if (servers[i] !== counted) return; // a straggler of the other server's last phase
    const cursor = cursorOf(data);
    if (!cursor) return;
    const [ms, seq] = cursor;
    if (ms < fromMs || (ms === fromMs && seq <= fromSeq)) return; // an earlier phase
    const at = now();
    if (ms < lastMs[i]! || (ms === lastMs[i]! && seq <= lastSeq[i]!)) outOfOrder++;
    else {
      lastMs[i] = ms;
      lastSeq[i] = seq;
    }
    received[i]!++;
    total++;
    histogram[Math.min(BUCKETS - 1, Math.max(0, Math.floor((at - ms) / BUCKET_MS)))]!++;
    lastReceiptAt = at;
  };

  const open = (i: number, spec: ClientSpec): Promise<void> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(spec.url, { perMessageDeflate: false, headers: spec.token ? { authorization: `Bearer ${spec.token}` } : {} });
      sockets[i] = ws;
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => settle(new Error('no answer within 60 s')), 60_000);
      ws.on('unexpected-response', (_req, res) => settle(new Error(`upgrade answered ${res.statusCode}`)));
      ws.on('error', (error) => settle(error));
      ws.on('open', () => {
        if (!spec.subscribe) return settle();
        ws.send(JSON.stringify({ type: 'subscribe', topic: `event:${spec.event}`, id: i }));
      });
      ws.on('message', (data: Buffer) => {
        if (data.compare(POSITION_PREFIX, 0, POSITION_PREFIX.length, 0, POSITION_PREFIX.length) === 0) return onPosition(i, data);
        const message = JSON.parse(data.toString()) as { type: string; code?: string; message?: string };
        if (message.type === 'subscribed') return settle();
        if (message.type === 'error') {
          errors++;
          settle(new Error(`${message.code}: ${message.message}`));
        }
      });
      ws.on('close', (code) => {
        if (!closing) closes[code] = (closes[code] ?? 0) + 1;
        settle(new Error(`closed with ${code}`));
      });
    });

  const progress = setInterval(() => send({ type: 'progress', received: total }), 100);
  progress.unref();

  process.on('message', (command: Command) => {
    if (command.cmd === 'connect') {
      const { clients, concurrency } = command;
      sockets = new Array(clients.length);
      servers = Uint8Array.from(clients.map((c) => c.server));
      received = new Int32Array(clients.length);
      lastMs = new Float64Array(clients.length);
      lastSeq = new Float64Array(clients.length);
      closes = {};
      closing = false;
      let next = 0;
      let ok = 0;
      let failed = 0;
      let firstError: string | null = null;
      const lane = async () => {
        while (next < clients.length) {
          const i = next++;
          try {
            await open(i, clients[i]!);
            ok++;
          } catch (error) {
            failed++;
            firstError ??= (error as Error).message;
          }
        }
      };
      void Promise.all(Array.from({ length: concurrency }, lane)).then(() => send({ type: 'connected', ok, failed, firstError }));
    } else if (command.cmd === 'phase') {
      counted = command.server;
      const [ms, seq] = command.from.split('-').map(Number) as [number, number];
      fromMs = ms;
      fromSeq = seq;
      received.fill(0);
      histogram = new Uint32Array(BUCKETS);
      total = 0;
      outOfOrder = 0;
      lastReceiptAt = 0;
      errors = 0;
      cpuAt = process.cpuUsage();
      send({ type: 'ok' });
    } else if (command.cmd === 'collect') {
      const cpu = process.cpuUsage(cpuAt);
      const pairs: [number, number][] = [];
      histogram.forEach((count, bucket) => count > 0 && pairs.push([bucket, count]));
      send({ type: 'phase-result', received: [...received], outOfOrder, histogram: pairs, lastReceiptAt, cpuMs: (cpu.user + cpu.system) / 1000, closes, errors });
    } else if (command.cmd === 'close') {
      closing = true;
      for (const ws of sockets) ws?.terminate();
      sockets = [];
      send({ type: 'ok' });
    }
  });
  process.send!({ type: 'ok' });
}

// ---- Bare broadcast process: `--role bare` -------------------------------------------------------------------------

interface BareInit {
  redisUrl: string;
  stream: string;
  from: string;
  batch: number;
  /** Tracker IMEI → event id. */
  routes: [string, string][];
}

/**
 * The comparison: a broadcast with nothing else. Reads the stream after `from`, makes each entry the same message
 * the gateway sends (same parse, same bytes, framed once) and writes it to every socket of the event, as the
 * gateway writes (each socket corked for the turn, the shared frame written past ws.send); `plain` switches to
 * `ws.send` of the text per socket, as the ws documentation broadcasts.
 */
function runBare(): void {
  let plain = false;
  process.on('message', (message: BareInit | { cmd: 'plain'; plain: boolean }) => {
    if ('cmd' in message) {
      plain = message.plain;
      process.send!({ type: 'ok' });
    } else void serve(message);
  });
  async function serve(init: BareInit): Promise<void> {
    const routes = new Map(init.routes);
    const sockets = new Map<string, Set<WebSocket>>();
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, backlog: 4096 });
    server.on('connection', (ws, req) => {
      const event = new URL(req.url ?? '/', 'http://bare').searchParams.get('event') ?? '';
      const set = sockets.get(event) ?? new Set();
      set.add(ws);
      sockets.set(event, set);
      ws.on('close', () => set.delete(ws));
      ws.on('error', () => undefined);
    });
    await new Promise((resolve) => server.once('listening', resolve));
    const redis = new Redis(init.redisUrl, { maxRetriesPerRequest: null });
    process.send!({ type: 'listening', port: (server.address() as { port: number }).port });
    const corked: Writable[] = [];
    const uncork = () => {
      for (const tcp of corked) tcp.uncork();
      corked.length = 0;
    };
    let last = init.from;
    for (;;) {
      const reply = (await redis.xread('COUNT', init.batch, 'BLOCK', 1000, 'STREAMS', init.stream, last)) as [string, [string, string[]][]][] | null;
      if (!reply) continue;
      const entries = toStreamEntries(reply[0]![1]);
      const nowMs = Date.now();
      for (const entry of entries) {
        last = entry.id;
        if (!entry.fields) continue;
        const parsed = parseStreamEntry(entry.fields);
        if (!parsed.ok || unmappableReason(parsed.position, nowMs, 300_000)) continue;
        const event = routes.get(parsed.position.deviceId);
        const targets = event ? sockets.get(event) : undefined;
        if (!event || !targets) continue;
        const topic = `event:${event}`;
        const frame = sharedFrame(JSON.stringify({ type: 'position', topic, cursor: entry.id, data: toPositionEntry(parsed.position) }));
        for (const ws of targets) {
          if (plain) {
            ws.send(frame.text);
            continue;
          }
          const tcp = (ws as unknown as { _socket: Writable })._socket;
          if (!tcp.writableCorked) {
            tcp.cork();
            corked.push(tcp);
          }
          if (ws.readyState === ws.OPEN) tcp.write(frame.wire);
        }
      }
      uncork();
    }
  }
  process.send!({ type: 'ok' });
}

// ---- The bench ---------------------------------------------------------------------------------------------------

const progress = progressFor('gateway');

/** A forked helper and a queue of its replies, read in order. */
class Child {
  private readonly replies: unknown[] = [];
  private waiting: ((reply: unknown) => void) | null = null;
  received = 0;
  exited = false;

  constructor(readonly process: ChildProcess) {
    process.on('message', (reply: Reply | { type: 'listening'; port: number }) => {
      if (reply.type === 'progress') {
        this.received = reply.received;
        return;
      }
      if (this.waiting) {
        const waiting = this.waiting;
        this.waiting = null;
        waiting(reply);
      } else this.replies.push(reply);
    });
    process.once('exit', (code) => {
      this.exited = true;
      this.waiting?.({ type: 'exit', code });
    });
  }

  static start(role: string): Child {
    return new Child(fork(import.meta.filename, ['--role', role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  next<T>(): Promise<T> {
    if (this.replies.length > 0) return Promise.resolve(this.replies.shift() as T);
    if (this.exited) return Promise.reject(new Error('the helper process exited'));
    return new Promise((resolve, reject) => {
      this.waiting = (reply) => ((reply as { type: string }).type === 'exit' ? reject(new Error(`a helper process exited (${(reply as { code: number }).code})`)) : resolve(reply as T));
    });
  }

  async ask<T>(command: Command | BareInit | { cmd: 'plain'; plain: boolean }): Promise<T> {
    this.process.send(command);
    return this.next<T>();
  }

  stop(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.process.once('exit', () => resolve());
      this.process.kill('SIGTERM');
    });
  }
}

const percentileOf = (histogram: Map<number, number>, p: number): number => {
  const total = [...histogram.values()].reduce((a, b) => a + b, 0);
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const bucket of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(bucket)!;
    if (seen >= rank) return Math.round((bucket + 1) * BUCKET_MS * 10) / 10;
  }
  return Number.NaN;
};

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds a process has used so far (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** The process's open-files limit, which must hold one descriptor per viewer. */
function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? Number.NaN);
}

interface Setup {
  events: string[];
  /** Tracker IMEIs, device k of event k mod events. */
  devices: string[];
  tokens: string[];
}

/** The race setup through Directus as an organiser does it, and the viewers' accounts (Race Control role). */
async function register(stack: TestStack, events: number, devicesPerEvent: number, users: number): Promise<Setup> {
  const token = await adminToken(stack);
  const post = async (path: string, body: unknown) => {
    const res = await call(stack, path, { token, body });
    if (res.status !== 200 && res.status !== 204) throw new Error(`POST ${path}: ${res.status} ${res.text.slice(0, 300)}`);
    return res;
  };
  const day = 24 * 3600 * 1000;
  const now = Date.now();
  const eventIds = Array.from({ length: events }, (_, e) => demoId(`bench-gateway:event:${e}`));
  await post('/items/events', eventIds.map((id, e) => ({ id, name: `Gateway bench event ${e + 1}`, slug: `gateway-bench-${e + 1}`, starts_at: new Date(now - day).toISOString(), ends_at: new Date(now + day).toISOString(), status: 'running' })));
  const model = demoId('model:FMB920');
  const count = events * devicesPerEvent;
  const devices = Array.from({ length: count }, (_, k) => demoImei(1000 + k));
  for (let start = 0; start < count; start += 200) {
    const ks = Array.from({ length: Math.min(200, count - start) }, (_, i) => start + i);
    await post('/items/devices', ks.map((k) => ({ id: demoId(`bench-gateway:device:${k}`), imei: devices[k], name: `FMB920 gateway bench ${k + 1}`, model })));
    await post('/items/entries', ks.map((k) => ({ id: demoId(`bench-gateway:entry:${k}`), event: eventIds[k % events], race_number: 1 + Math.floor(k / events), name: `Crew ${k + 1}`, category: 'T1' })));
    await post('/items/entry_devices', ks.map((k) => ({ entry: demoId(`bench-gateway:entry:${k}`), device: demoId(`bench-gateway:device:${k}`), valid_from: null, valid_to: null, role: 'primary' })));
  }
  const roles = await call(stack, `/roles?filter[name][_eq]=${encodeURIComponent('Race Control')}&fields=id`, { token });
  const role = roles.json?.data?.[0]?.id as string | undefined;
  if (!role) throw new Error(`no Race Control role: ${roles.status} ${roles.text.slice(0, 300)}`);
  const tokens = Array.from({ length: users }, () => randomBytes(24).toString('hex'));
  await post('/users', tokens.map((t, u) => ({ email: `viewer${u + 1}@gateway-bench.example.com`, password: randomBytes(24).toString('hex'), role, token: t, first_name: `Viewer ${u + 1}` })));
  for (const t of tokens) {
    const me = await call(stack, '/users/me?fields=id', { token: t });
    if (me.status !== 200) throw new Error(`a viewer's token is refused: ${me.status}`);
  }
  return { events: eventIds, devices, tokens };
}

/** The gateway as its own process, configured through its environment only; resolves once it answers on its port. */
async function startGateway(stack: TestStack, stream: string, logFile: string): Promise<{ process: ChildProcess; port: number; metricsPort: number }> {
  const port = await freePort();
  const metricsPort = await freePort();
  const log = openSync(logFile, 'a');
  const child = spawn(join(repoRoot, 'bin/pitwall'), ['gateway'], {
    env: {
      ...process.env,
      DATABASE_URL: stack.databaseUrl,
      REDIS_URL,
      REDIS_TELEMETRY_STREAM: stream,
      DIRECTUS_URL: stack.directusUrl,
      LIVE_WS_PORT: String(port),
      METRICS_PORT: String(metricsPort),
      INSTANCE_ID: `gateway-bench-${process.pid}`,
      GATEWAY_DRAIN_MS: '1000',
      LOG_LEVEL: 'warn',
      // For a profile of the gateway alone, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
      ...(process.env.PITWALL_GATEWAY_NODE_OPTIONS ? { NODE_OPTIONS: process.env.PITWALL_GATEWAY_NODE_OPTIONS } : {}),
    },
    stdio: ['ignore', log, log],
  });
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}; see ${logFile}`);
    const answer = await fetch(`http://127.0.0.1:${port}/`).catch(() => null);
    if (answer?.status === 426) break;
    if (performance.now() > deadline) throw new Error(`the gateway did not listen within 60 s; see ${logFile}`);
    await sleep(200);
  }
  return { process: child, port, metricsPort };
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** One tracker fix now, near a bivouac (never 0,0, never in the future), as the tcp-ingestion service writes it. */
const fixOf = (deviceId: string, ts: number, n: number): Position => ({
  deviceId,
  ts,
  latitude: 31.6 + (n % 1000) * 1e-5,
  longitude: -4.4 + (n % 977) * 1e-5,
  altitude: 780,
  angle: n % 360,
  speed: 80 + (n % 40),
  satellites: 12,
  priority: 0,
  attributes: { '239': 1, '66': 12_800 },
  codec: '8E',
});

/** XADDs the trackers' fixes round robin (so over the events in turn), counting what each event was sent. */
class Producer {
  private n = 0;
  private readonly lastTs = new Map<string, number>();
  /** The last entry id XADDed to each stream. */
  readonly lastId = new Map<string, string>();

  constructor(private readonly redis: Redis, private readonly setup: Setup) {}

  private async add(stream: string, count: number, perEvent: Map<string, number>): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (let i = 0; i < count; i++, this.n++) {
      const k = this.n % this.setup.devices.length;
      const device = this.setup.devices[k]!;
      const ts = Math.max(Date.now(), (this.lastTs.get(device) ?? 0) + 1);
      this.lastTs.set(device, ts);
      pipeline.xadd(stream, '*', ...toStreamFields(fixOf(device, ts, this.n)));
      const event = this.setup.events[k % this.setup.events.length]!;
      perEvent.set(event, (perEvent.get(event) ?? 0) + 1);
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [error, id] of results) {
      if (error) throw error;
      this.lastId.set(stream, id as string);
    }
  }

  /** `rate` positions per second for `seconds`, a pipeline every 5 ms. */
  async paced(stream: string, rate: number, seconds: number, perEvent: Map<string, number>): Promise<void> {
    const total = Math.round(rate * seconds);
    const started = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      if (due > sent) {
        await this.add(stream, due - sent, perEvent);
        sent = due;
      }
      await sleep(5);
    }
  }

  /** `total` positions as fast as Redis takes them, in pipelines of 500. */
  async burst(stream: string, total: number, perEvent: Map<string, number>): Promise<void> {
    for (let sent = 0; sent < total; sent += 500) await this.add(stream, Math.min(500, total - sent), perEvent);
  }
}

interface PhaseFigures {
  positions: number;
  expected: number;
  delivered: number;
  lost: number;
  unexpected: number;
  outOfOrder: number;
  messagesPerS: number;
  p50: number;
  p99: number;
  max: number;
  /** Wall time of the phase (first XADD to the last expected receipt) and the server's CPU time in it. */
  wallS: number;
  serverCpuS: number;
  clientsCpuS: number;
  /** Redis and this process (the producer), so the whole machine's use is accounted for. */
  redisCpuS: number;
  benchCpuS: number;
  closes: Record<string, number>;
  /** Error messages the viewers got (none expected). */
  errors: number;
}

/** One of the two servers the viewers are connected to, and the stream it reads. */
interface Target {
  index: ServerIndex;
  name: string;
  stream: string;
  pid: number;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const share = (phases: PhaseFigures[], cpu: (p: PhaseFigures) => number) => round(phases.reduce((a, p) => a + cpu(p), 0) / phases.reduce((a, p) => a + p.wallS, 0));
const sum = (phases: PhaseFigures[], field: (p: PhaseFigures) => number) => phases.reduce((a, p) => a + field(p), 0);

/** Runs phases against one server at a time, with the viewers of every server connected in the client processes. */
class Phases {
  private readonly slices: ClientSpec[][];

  constructor(
    private readonly workers: Child[],
    private readonly specs: ClientSpec[],
    private readonly producer: Producer,
    private readonly timeoutMs: number,
    private readonly redisPid: number,
  ) {
    const size = Math.ceil(specs.length / workers.length);
    this.slices = workers.map((_, w) => specs.slice(w * size, (w + 1) * size));
  }

  async connect(): Promise<number> {
    const t = performance.now();
    const connected = await Promise.all(this.workers.map((worker, w) => worker.ask<Connected>({ cmd: 'connect', clients: this.slices[w]!, concurrency: 50 })));
    const failed = connected.reduce((a, c) => a + c.failed, 0);
    if (failed > 0) throw new Error(`${failed} of ${this.specs.length} viewers could not connect (first: ${connected.find((c) => c.firstError)?.firstError})`);
    return (performance.now() - t) / 1000;
  }

  async run(target: Target, phase: string, produce: (perEvent: Map<string, number>) => Promise<void>): Promise<PhaseFigures> {
    const { workers } = this;
    await Promise.all(workers.map((worker) => worker.ask({ cmd: 'phase', server: target.index, from: this.producer.lastId.get(target.stream) ?? '0-0' })));
    for (const worker of workers) worker.received = 0;
    const perEvent = new Map<string, number>();
    const cpuFrom = cpuSeconds(target.pid);
    const redisFrom = cpuSeconds(this.redisPid);
    const benchFrom = process.cpuUsage();
    const firstXaddAt = Date.now();
    const t = performance.now();
    await produce(perEvent);
    const positions = [...perEvent.values()].reduce((a, b) => a + b, 0);
    const expected = this.specs.reduce((total, spec) => total + (spec.server === target.index ? (perEvent.get(spec.event) ?? 0) : 0), 0);
    const waitUntil = performance.now() + this.timeoutMs;
    while (workers.reduce((a, w) => a + w.received, 0) < expected && performance.now() < waitUntil) await sleep(20);
    const serverCpuS = cpuSeconds(target.pid) - cpuFrom;
    const redisCpuS = cpuSeconds(this.redisPid) - redisFrom;
    const bench = process.cpuUsage(benchFrom);
    const wallS = (performance.now() - t) / 1000;
    await sleep(300); // anything beyond what was expected would show now
    const results = await Promise.all(workers.map((worker) => worker.ask<PhaseResult>({ cmd: 'collect' })));
    let delivered = 0;
    let lost = 0;
    let unexpected = 0;
    const histogram = new Map<number, number>();
    const closes: Record<string, number> = {};
    results.forEach((result, w) => {
      result.received.forEach((got, i) => {
        const spec = this.slices[w]![i]!;
        if (spec.server !== target.index) return;
        const want = perEvent.get(spec.event) ?? 0;
        delivered += got;
        lost += Math.max(0, want - got);
        unexpected += Math.max(0, got - want);
      });
      for (const [bucket, count] of result.histogram) histogram.set(bucket, (histogram.get(bucket) ?? 0) + count);
      for (const [code, count] of Object.entries(result.closes)) closes[code] = (closes[code] ?? 0) + count;
    });
    const lastReceiptAt = Math.max(...results.map((r) => r.lastReceiptAt));
    const figures: PhaseFigures = {
      positions,
      expected,
      delivered,
      lost,
      unexpected,
      outOfOrder: results.reduce((a, r) => a + r.outOfOrder, 0),
      messagesPerS: Math.round(delivered / ((lastReceiptAt - firstXaddAt) / 1000)),
      p50: percentileOf(histogram, 50),
      p99: percentileOf(histogram, 99),
      max: percentileOf(histogram, 100),
      wallS,
      serverCpuS,
      clientsCpuS: results.reduce((a, r) => a + r.cpuMs, 0) / 1000,
      redisCpuS,
      benchCpuS: (bench.user + bench.system) / 1e6,
      closes,
      errors: results.reduce((a, r) => a + r.errors, 0),
    };
    progress(
      `${target.name} ${phase}: ${positions} positions, ${delivered}/${expected} messages, ${figures.messagesPerS}/s, p50 ${figures.p50} ms, p99 ${figures.p99} ms, ` +
        `max ${figures.max} ms, lost ${lost}, CPU: server ${round(serverCpuS / wallS)}, clients ${round(figures.clientsCpuS / wallS)}, ` +
        `Redis ${round(redisCpuS / wallS)}, bench ${round(figures.benchCpuS / wallS)}` +
        `${Object.keys(closes).length ? `, closed ${JSON.stringify(closes)}` : ''}, load ${loadavg()[0]!.toFixed(1)}`,
    );
    return figures;
  }

  close(): Promise<unknown> {
    return Promise.all(this.workers.map((worker) => worker.ask({ cmd: 'close' })));
  }
}

/** The gateway's histogram of entry age at broadcast (XADD to the moment it fans an entry out): `le` → count. */
async function broadcastAges(metricsPort: number): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const match of text.matchAll(/^pitwall_gateway_entry_age_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) buckets.set(match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2]));
  return buckets;
}

/** The bucket bound (ms) under which p percent of the entries were broadcast, between two readings of the histogram. */
function broadcastAgePercentile(before: Map<number, number>, after: Map<number, number>, p: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const count = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = count(Number.POSITIVE_INFINITY);
  const bound = bounds.find((le) => count(le) >= (p / 100) * total);
  return bound === undefined || !Number.isFinite(bound) ? null : bound * 1000;
}

/** The gateway's count of its calls to Directus, by kind (user, event), from its metrics. */
async function directusCalls(metricsPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const calls: Record<string, number> = {};
  for (const match of text.matchAll(/^pitwall_gateway_directus_calls_total\{([^}]*)\} (\d+)/gm)) {
    const kind = /kind="(\w+)"/.exec(match[1]!)?.[1] ?? '?';
    calls[kind] = (calls[kind] ?? 0) + Number(match[2]);
  }
  return calls;
}

async function main(): Promise<Record<string, unknown>> {
  const { values: args } = parseArgs({
    options: {
      clients: { type: 'string', default: '5000' },
      events: { type: 'string', default: '20' },
      /** Trackers (entries) per event. */
      devices: { type: 'string', default: '20' },
      users: { type: 'string', default: '5' },
      workers: { type: 'string', default: '2' },
      /** Positions per second in the paced phase (each to the viewers of its event). */
      rate: { type: 'string', default: '400' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      /** Positions XADDed at once in each burst, and how many bursts each server gets. */
      burst: { type: 'string', default: '4000' },
      repeat: { type: 'string', default: '3' },
      /** Positions of a last bare burst written a frame at a time (plain `ws.send`); 0 leaves it out. */
      'plain-burst': { type: 'string', default: '500' },
      /** Seconds to wait for the last deliveries of a phase. */
      timeout: { type: 'string', default: '20' },
    },
  });
  const n = Object.fromEntries(Object.entries(args).map(([k, v]) => [k, Number(v)])) as Record<keyof typeof args, number>;
  for (const [name, value] of Object.entries(n)) {
    if (!Number.isInteger(value) || value < (name === 'plain-burst' ? 0 : 1)) throw new Error(`--${name}: expected a ${name === 'plain-burst' ? 'whole number' : 'positive integer'}`);
  }
  // Each server holds one descriptor per viewer, each client process one per viewer of both servers.
  const limit = openFilesLimit();
  const needed = Math.max(n.clients, (2 * n.clients) / n.workers) + 1000;
  if (limit < needed) throw new Error(`the open-files limit is ${limit}, and ${needed} are needed: raise it with ulimit -n`);

  const run = randomUUID();
  const streams = [`bench:telemetry:${run}`, `bench:telemetry:${run}:bare`] as const;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const logFile = `/tmp/pitwall-bench-gateway-${process.pid}.log`;
  let stopStack: (() => Promise<void>) | null = null;
  let db: Db | null = null;
  let gateway: ChildProcess | null = null;
  let bare: Child | null = null;
  const workers: Child[] = [];
  try {
    let t = performance.now();
    const running = await startTestStack(11);
    stopStack = running.stop;
    const { stack } = running;
    db = connectDb(stack.databaseUrl, { pool: 1 });
    progress(`Directus stack ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    const setup = await register(stack, n.events, n.devices, n.users);
    progress(`${n.events} events, ${setup.devices.length} trackers on their entries and ${n.users} viewer accounts registered in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    for (let w = 0; w < n.workers; w++) workers.push(Child.start('clients'));
    bare = Child.start('bare');
    await Promise.all([...workers, bare].map((child) => child.next()));
    const started = await startGateway(stack, streams[0], logFile);
    gateway = started.process;
    const routes = setup.devices.map((device, k): [string, string] => [device, setup.events[k % n.events]!]);
    const { port: barePort } = await bare.ask<{ port: number }>({ redisUrl: REDIS_URL, stream: streams[1], from: '0-0', batch: 1000, routes });
    progress(`gateway pid ${gateway.pid} on port ${started.port} (log ${logFile}), bare broadcast pid ${bare.process.pid} on port ${barePort}; streams ${streams.join(', ')}`);

    // Viewer c of each server follows event c mod events; the gateway's viewers sign in with the users' tokens in turn.
    const specs = [
      ...Array.from({ length: n.clients }, (_, c): ClientSpec => ({ server: 0, url: `ws://127.0.0.1:${started.port}/ws-live`, token: setup.tokens[c % n.users]!, event: setup.events[c % n.events]!, subscribe: true })),
      ...Array.from({ length: n.clients }, (_, c): ClientSpec => ({ server: 1, url: `ws://127.0.0.1:${barePort}/bare?event=${setup.events[c % n.events]}`, token: null, event: setup.events[c % n.events]!, subscribe: false })),
    ];
    // Gateway viewers first in each process: they subscribe through Directus while the bare ones just connect.
    const perWorker = Math.ceil(n.clients / n.workers);
    const ordered = workers.flatMap((_, w) => [...specs.slice(w * perWorker, Math.min(n.clients, (w + 1) * perWorker)), ...specs.slice(n.clients + w * perWorker, n.clients + Math.min(n.clients, (w + 1) * perWorker))]);
    const producer = new Producer(redis, setup);
    const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    const phases = new Phases(workers, ordered, producer, n.timeout * 1000, redisPid);
    const connectS = await phases.connect();
    progress(`${n.clients} gateway viewers connected and subscribed, ${n.clients} bare viewers connected, in ${connectS.toFixed(1)} s`);

    const targets: [Target, Target] = [
      { index: 0, name: 'gateway', stream: streams[0], pid: gateway.pid! },
      { index: 1, name: 'bare', stream: streams[1], pid: bare.process.pid! },
    ];
    const result = targets.map(() => ({ warmup: [] as PhaseFigures[], paced: [] as PhaseFigures[], bursts: [] as PhaseFigures[] }));
    for (const target of targets) result[target.index]!.warmup.push(await phases.run(target, 'warm-up', (perEvent) => producer.paced(target.stream, n.rate, n.warmup, perEvent)));
    const agesBefore = await broadcastAges(started.metricsPort);
    for (const target of targets) result[target.index]!.paced.push(await phases.run(target, 'paced', (perEvent) => producer.paced(target.stream, n.rate, n.seconds, perEvent)));
    const agesAfter = await broadcastAges(started.metricsPort);
    const broadcastP50 = broadcastAgePercentile(agesBefore, agesAfter, 50);
    const broadcastP99 = broadcastAgePercentile(agesBefore, agesAfter, 99);
    progress(`gateway paced: XADD → broadcast p50 ≤ ${broadcastP50} ms, p99 ≤ ${broadcastP99} ms (its histogram's buckets)`);
    for (let r = 1; r <= n.repeat; r++) {
      for (const target of targets) result[target.index]!.bursts.push(await phases.run(target, `burst ${r}`, (perEvent) => producer.burst(target.stream, n.burst, perEvent)));
    }
    let plain: PhaseFigures | null = null;
    if (n['plain-burst'] > 0) {
      await bare.ask({ cmd: 'plain', plain: true });
      plain = await phases.run(targets[1], 'burst, ws.send per frame', (perEvent) => producer.burst(streams[1], n['plain-burst'], perEvent));
    }
    const calls = await directusCalls(started.metricsPort);
    progress(`gateway's calls to Directus: ${JSON.stringify(calls)}`);
    await phases.close();

    const [g, b] = result as [(typeof result)[0], (typeof result)[0]];
    const all = (x: typeof g) => [...x.warmup, ...x.paced, ...x.bursts];
    const gPaced = g.paced[0]!;
    const bPaced = b.paced[0]!;
    const messagesPerS = median(g.bursts.map((p) => p.messagesPerS));
    const bareMessagesPerS = median(b.bursts.map((p) => p.messagesPerS));
    return {
      bench: 'gateway',
      clients: n.clients,
      messages_per_s: messagesPerS,
      p50_ms: gPaced.p50,
      p99_ms: gPaced.p99,
      lost: sum(all(g), (p) => p.lost),
      ratio: round(messagesPerS / bareMessagesPerS, 3),
      bare_messages_per_s: bareMessagesPerS,
      paced_rate_messages_per_s: Math.round(n.rate * (n.clients / n.events)),
      paced_messages_per_s: gPaced.messagesPerS,
      paced_max_ms: gPaced.max,
      // The part of the latency before the gateway fans an entry out, as the bucket bound of its own histogram.
      xadd_to_broadcast_p50_ms_at_most: broadcastP50,
      xadd_to_broadcast_p99_ms_at_most: broadcastP99,
      bare_paced_messages_per_s: bPaced.messagesPerS,
      bare_p50_ms: bPaced.p50,
      bare_p99_ms: bPaced.p99,
      bare_lost: sum(all(b), (p) => p.lost) + (plain?.lost ?? 0),
      bursts_messages_per_s: g.bursts.map((p) => p.messagesPerS),
      bare_bursts_messages_per_s: b.bursts.map((p) => p.messagesPerS),
      burst_messages: g.bursts[0]!.expected,
      burst_p99_ms: median(g.bursts.map((p) => p.p99)),
      bare_burst_p99_ms: median(b.bursts.map((p) => p.p99)),
      ...(plain ? { bare_plain_messages_per_s: plain.messagesPerS, bare_plain_cpu: share([plain], (p) => p.serverCpuS), plain_burst_messages: plain.expected } : {}),
      gateway_cpu: share(g.paced, (p) => p.serverCpuS),
      gateway_cpu_burst: share(g.bursts, (p) => p.serverCpuS),
      bare_cpu: share(b.paced, (p) => p.serverCpuS),
      bare_cpu_burst: share(b.bursts, (p) => p.serverCpuS),
      clients_cpu: share(g.paced, (p) => p.clientsCpuS),
      clients_cpu_burst: share(g.bursts, (p) => p.clientsCpuS),
      redis_cpu: share(g.paced, (p) => p.redisCpuS),
      bench_cpu: share(g.paced, (p) => p.benchCpuS),
      out_of_order: sum(all(g), (p) => p.outOfOrder),
      unexpected: sum(all(g), (p) => p.unexpected),
      errors: sum(all(g), (p) => p.errors),
      closed: all(g).reduce<Record<string, number>>((codes, p) => {
        for (const [code, count] of Object.entries(p.closes)) codes[code] = (codes[code] ?? 0) + count;
        return codes;
      }, {}),
      connect_s: round(connectS, 1),
      directus_calls: calls,
      events: n.events,
      devices: setup.devices.length,
      users: n.users,
      workers: n.workers,
      paced_positions: gPaced.positions,
      burst_positions: n.burst,
      repeat: n.repeat,
      load_average: loadavg().map((x) => round(x, 1)),
      ...(await measuredOn(db, redis)),
      directus: stack.version,
      date: new Date().toISOString(),
    };
  } finally {
    const steps: [string, () => Promise<unknown>][] = [
      ['stop the gateway', async () => gateway && stopProcess(gateway)],
      ['stop the bare server', async () => bare?.stop()],
      ['stop the client processes', () => Promise.all(workers.map((w) => w.stop()))],
      ['delete the streams', () => redis.del(...streams)],
      ['close redis', () => redis.quit()],
      ['close postgres', async () => db?.destroy()],
      ['stop Directus and drop its database', async () => stopStack?.()],
      ['remove an empty gateway log', async () => statSync(logFile, { throwIfNoEntry: false })?.size === 0 && unlinkSync(logFile)],
    ];
    await cleanUp(steps, progress);
  }
}

const role = process.argv[2] === '--role' ? process.argv[3] : 'bench';
if (role === 'clients') runClients();
else if (role === 'bare') runBare();
else report(main(), progress);
