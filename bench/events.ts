/**
 * Race event latency, tracker fix to integrator (BENCHMARKS.md, `events`).
 *
 * A real test stack (Directus 11 with the bundle, setup and the demo race) and the real Processor, each in a process
 * and a session of its own as `npm start` runs them, and a Flow built as an admin builds it (Event Hook, action,
 * items.create on race_events → Pitwall signed webhook over webhook_subscriptions), delivering to an HTTP server in
 * this process, outside Directus, that checks every signature.
 *
 * The stream is engineered so that a known subset of fixes each causes exactly one race event: every demo tracker
 * alternates between its bivouac and a fix 45 km away one millisecond later, an impossible jump. Each far fix is
 * one `position_jump` anomaly, so one `anomaly.detected` race event, and nothing else happens (no gate, zone or
 * waypoint is near either point, and no stage is running). Far fixes are XADDed at a steady `--rate`; latency runs
 * from the XADD of the far fix to the receipt of its event (matched on device and GPS time). The first
 * `--warmup` seconds (devices seen for the first time are rebuilt from stored positions) are delivered and checked
 * but left out of the percentiles.
 *
 * `lost`: far fixes whose event had not arrived `--timeout` seconds after the last XADD; `duplicated`: deliveries
 * beyond the first of an event id (the receiver always answers 204, so there is no retry to excuse one).
 *
 * In the same run, for comparison: the Directus-only part of the path, a race_events item created through the
 * REST API to the webhook's receipt (`flow_only_p50_ms`), measured on the idle stack before the load; and the
 * split of each event's latency at the processor's facts POST (`xadd_to_facts_post_p50_ms`, `facts_post_p50_ms`).
 * `load_average` is the machine's, at the end: other work on it slows every figure.
 *
 * `--with-load`: the same measurement while `npm run bench -- processor` drains a backlog beside it (its own stack
 * and processor, `--load-positions` fixes, started first); the events start once its stream is filled, and it is
 * stopped when they are done. `load_positions_per_s` is what that processor stored meanwhile.
 *
 *   npm run bench -- events [--events 2000] [--rate 100] [--warmup 3] [--timeout 45] [--with-load [--load-positions 1000000]]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { demoEntries } from '../src/demo/demo-race.ts';
import type { Position } from '../src/domain/position.ts';
import { verifyWebhook } from '../src/domain/webhooks/verify-webhook.ts';
import { loadProcessorConfig } from '../src/processor/config.ts';
import { Processor } from '../src/processor/processor.ts';
import { toStreamFields } from '../src/simulator/publish.ts';
import { connectDb, type Db } from '../src/store/db.ts';
import { stopChild } from '../test/support/cli.ts';
import { adminToken, call } from '../test/support/directus-client.ts';
import { freePort, REDIS_URL, startTestStack, type TestStack } from '../test/support/stack.ts';
import { cleanUp, measuredOn, progressFor, report } from './support.ts';

const { values: args } = parseArgs({
  options: {
    /** Far fixes (so race events) measured after the warm-up. */
    events: { type: 'string', default: '2000' },
    /** Far fixes per second. */
    rate: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '3' },
    /** Seconds to wait for the last deliveries after the last XADD. */
    timeout: { type: 'string', default: '45' },
    'with-load': { type: 'boolean', default: false },
    'load-positions': { type: 'string', default: '1000000' },
    /** Internal: this file run as the measured processor's process (see MeasuredProcessor). */
    'processor-child': { type: 'boolean', default: false },
  },
});
const events = Number(args.events);
const rate = Number(args.rate);
const warmupSeconds = Number(args.warmup);
const timeoutMs = Number(args.timeout) * 1000;
for (const [name, value] of [['--events', events], ['--rate', rate], ['--timeout', timeoutMs]] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer`);
}
if (!Number.isInteger(warmupSeconds) || warmupSeconds < 0) throw new Error('--warmup: expected a whole number of seconds');
const loadPositions = Number(args['load-positions']);
if (!Number.isInteger(loadPositions) || loadPositions <= 0) throw new Error('--load-positions: expected a positive integer');

const progress = progressFor('events');

/** The bivouac, well away from every gate, zone and waypoint of the demo course, and a point 45 km north of it. */
const HOME = { latitude: 31.6, longitude: -4.4 };
const FAR = { latitude: 32.0, longitude: -4.4 };

const fixAt = (deviceId: string, ts: number, where: { latitude: number; longitude: number }): Position => ({
  deviceId,
  ts,
  ...where,
  altitude: 780,
  angle: 0,
  speed: 0,
  satellites: 12,
  priority: 0,
  attributes: { '239': 1, '66': 12_800 },
  codec: '8E',
});

interface Sent {
  xaddAt: number;
  warmup: boolean;
}

/** The integrator: HTTP outside Directus, checking each signature, keeping the first receipt of each event. */
class Receiver {
  readonly firstAt = new Map<string, number>();
  /** Event id → device|GPS time of the far fix it reports. */
  readonly keyOf = new Map<string, string>();
  deliveries = 0;
  badSignatures = 0;
  url = '';
  private readonly server: Server;

  constructor(private readonly secret: string) {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        const at = performance.now();
        res.writeHead(204).end();
        const verdict = verifyWebhook(raw, req.headers['pitwall-signature'] as string | undefined, this.secret, Math.floor(Date.now() / 1000));
        if (!verdict.ok) this.badSignatures++;
        const id = String(req.headers['pitwall-event-id']);
        this.deliveries++;
        if (this.firstAt.has(id)) return;
        this.firstAt.set(id, at);
        try {
          const body = JSON.parse(raw) as { type: string; data?: { device_id?: string; started_at?: string } };
          if (body.type === 'anomaly.detected' && body.data?.device_id && body.data.started_at) {
            this.keyOf.set(id, `${body.data.device_id}|${Date.parse(body.data.started_at)}`);
          }
        } catch {
          // counted as an unmatched delivery below
        }
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/pitwall`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The Flow an admin builds in Settings → Flows; resolves once it delivers (Flows load asynchronously). */
async function createFlow(stack: TestStack, token: string, receiver: Receiver): Promise<{ flowId: string; flowOnlyMs: number[] }> {
  const flow = await call(stack, '/flows', {
    token,
    body: { name: 'Bench: signed webhooks', icon: 'webhook', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
  });
  if (flow.status !== 200) throw new Error(`creating the Flow: ${flow.status} ${flow.text}`);
  const flowId = flow.json.data.id as string;
  const op = await call(stack, '/operations', {
    token,
    body: { flow: flowId, name: 'Signed webhook', key: 'signed_webhook', type: 'pitwall-signed-webhook', position_x: 20, position_y: 1, options: { mode: 'subscriptions', event: '{{$trigger.payload}}' } },
  });
  if (op.status !== 200) throw new Error(`creating the operation: ${op.status} ${op.text}`);
  await call(stack, `/flows/${flowId}`, { token, method: 'PATCH', body: { operation: op.json.data.id } });

  const probe = async (): Promise<number | null> => {
    const id = randomUUID();
    const started = performance.now();
    const res = await call(stack, '/items/race_events', {
      token,
      body: { id, type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: { model: randomUUID(), io_ids: [] } },
    });
    if (res.status !== 200) throw new Error(`storing a probe event: ${res.status} ${res.text}`);
    for (let i = 0; i < 100; i++) {
      const at = receiver.firstAt.get(id);
      if (at !== undefined) return at - started;
      await sleep(5);
    }
    return null;
  };
  const deadline = performance.now() + 30_000;
  while ((await probe()) === null) if (performance.now() > deadline) throw new Error('the Flow did not deliver within 30 s');
  const flowOnlyMs: number[] = [];
  for (let i = 0; i < 30; i++) {
    const ms = await probe();
    if (ms !== null) flowOnlyMs.push(ms);
  }
  return { flowId, flowOnlyMs };
}

/**
 * XADDs the fixes at `rate` far fixes per second: per tick, for each far fix due, the device's home fix and then
 * the far fix 1 ms later (GPS time), in one pipeline. Returns when all are on the stream.
 */
async function produce(redis: Redis, stream: string, total: number, warmupCount: number, sent: Map<string, Sent>, signal: AbortSignal): Promise<void> {
  const devices = demoEntries.map((e) => e.imei);
  const lastTs = new Map<string, number>();
  const started = performance.now();
  let n = 0;
  while (n < total) {
    signal.throwIfAborted();
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    if (due <= n) {
      await sleep(Math.max(1, ((n / rate) * 1000) - (performance.now() - started)));
      continue;
    }
    const pipeline = redis.pipeline();
    const batch: string[] = [];
    for (; n < due; n++) {
      const device = devices[n % devices.length]!;
      const ts = Math.max(Date.now(), (lastTs.get(device) ?? 0) + 1);
      lastTs.set(device, ts + 1);
      pipeline.xadd(stream, '*', ...toStreamFields(fixAt(device, ts, HOME)));
      pipeline.xadd(stream, '*', ...toStreamFields(fixAt(device, ts + 1, FAR)));
      batch.push(`${device}|${ts + 1}`);
    }
    const xaddAt = performance.now();
    for (const key of batch) sent.set(key, { xaddAt, warmup: sent.size < warmupCount });
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }
}

/**
 * Where the time goes: the processor posts its facts to Directus with fetch, so its process watches those requests
 * (nothing else) to split each event's latency into "XADD → facts POST sent" (the processor and its courier's queue)
 * and "facts POST" (Directus applying the facts; the webhook usually arrives before it answers). `seen` gets each
 * anomaly's POST as epoch ms (performance.timeOrigin + now: one clock for that process and the bench's).
 */
function watchFactPosts(seen: (key: string, post: FactPost) => void): void {
  const original = globalThis.fetch;
  const epoch = () => performance.timeOrigin + performance.now();
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const sentAt = epoch();
    const res = await original(input, init);
    if (String(input).endsWith('/pitwall/facts') && typeof init?.body === 'string') {
      await res.clone().arrayBuffer();
      const answeredAt = epoch();
      for (const fact of (JSON.parse(init.body) as { upserts: { type: string; deviceId?: string; startedAt?: number }[] }).upserts) {
        if (fact.type === 'anomaly') seen(`${fact.deviceId}|${fact.startedAt}`, { sentAt, answeredAt });
      }
    }
    return res;
  }) as typeof fetch;
}

interface FactPost {
  sentAt: number;
  answeredAt: number;
}

/** Environment of the measured processor's process: what `pitwall processor` reads. */
type MeasuredEnv = Record<
  'DATABASE_URL' | 'REDIS_URL' | 'REDIS_TELEMETRY_STREAM' | 'PROCESSOR_CONSUMER' | 'METRICS_PORT' | 'LOG_LEVEL' | 'DIRECTUS_URL' | 'DIRECTUS_TOKEN',
  string
>;

/**
 * Node's arguments to run a bench file as a child, with the heap setting this bench runs with (scripts/node22.sh), as
 * bin/pitwall runs a processor.
 */
const childArgs = (file: string, ...args: string[]): string[] => [
  ...process.execArgv.filter((arg) => arg.startsWith('--max-semi-space-size')),
  '--import',
  import.meta.resolve('tsx'),
  file,
  ...args,
];

/**
 * The processor whose events are measured, in a process and a session of its own, as `npm start` runs
 * `pitwall processor` (where autogroups are on, the kernel shares the cores between sessions first: in this bench's
 * process it would share one session's part with the sender, the receiver and Directus). It is this file run with
 * --processor-child, which writes one JSON line per anomaly it POSTs to Directus, for the split at the facts POST.
 */
class MeasuredProcessor {
  /** Each anomaly's facts POST, by device and GPS time, on this process's performance.now() scale. */
  readonly posts = new Map<string, FactPost>();

  private constructor(private readonly child: ChildProcess) {}

  static start(env: MeasuredEnv): Promise<MeasuredProcessor> {
    const args = childArgs(new URL(import.meta.url).pathname, '--processor-child');
    // Its stdin is a pipe from this process only so that it ends, and the child with it, if this process dies.
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env }, detached: true });
    const measured = new MeasuredProcessor(child);
    return new Promise((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'started') return resolve(measured);
        if (!line.startsWith('{"key"')) return;
        const { key, sentAt, answeredAt } = JSON.parse(line) as FactPost & { key: string };
        measured.posts.set(key, { sentAt: sentAt - performance.timeOrigin, answeredAt: answeredAt - performance.timeOrigin });
      });
      child.once('exit', (code) => reject(new Error(`the measured processor exited (${code}) before it started`)));
    });
  }

  stop(): Promise<void> {
    return stopChild(this.child, 'SIGTERM');
  }
}

/** --processor-child: a Processor configured from the environment, reporting its facts POSTs on stdout. */
async function runMeasuredProcessor(): Promise<void> {
  watchFactPosts((key, post) => process.stdout.write(`${JSON.stringify({ key, ...post })}\n`));
  const processor = new Processor(loadProcessorConfig(process.env), pino({ level: 'silent' }));
  await processor.start();
  process.stdout.write('started\n');
  let stopping = false;
  const stop = () => {
    if (!stopping) void processor.close().then(() => process.exit(0));
    stopping = true;
  };
  process.once('SIGTERM', stop);
  process.stdin.once('end', stop).resume();
}

/** The processor bench's drain, running beside this one (--with-load); counts what its processor stores. */
class ProcessorLoad {
  private child: ChildProcess | null = null;
  /** The processor bench's last report: positions stored, at performance.now() here. */
  private last = { stored: 0, at: 0 };
  private from: { stored: number; at: number } | null = null;

  /** Resolves once the processor bench has filled its stream and its processor has started draining it. */
  start(): Promise<void> {
    const args = childArgs(new URL('./processor.ts', import.meta.url).pathname, '--positions', String(loadPositions), '--timeout', '600', '--directus-session');
    // Its processor and its Directus each in a session of their own, as `npm start` runs them: where autogroups are on
    // (most Linux desktops and many servers), the kernel shares the cores between sessions first.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    return new Promise((resolve, reject) => {
      let tail = '';
      createInterface({ input: child.stderr! }).on('line', (line) => {
        tail = line;
        const stored = /stored (\d+) positions in /.exec(line);
        if (stored) this.last = { stored: Number(stored[1]), at: performance.now() };
        // "processor bench: <n> entries on <stream> in <s> s": its processor starts draining now.
        if (/ entries on \S+ in /.test(line)) {
          progress('processor load: its stream is filled and its processor draining');
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`the processor load ended before its drain (exit ${code}): ${tail}`)));
    });
  }

  /** From now, what its processor stores is counted (see rate). */
  measure(): void {
    this.from = { ...this.last };
  }

  /** Positions its processor stored per second between measure() and its last report since (it reports every 2 s). */
  rate(): number | null {
    if (!this.from || this.last.at <= this.from.at) return null;
    if (this.last.stored >= loadPositions) progress('processor load: its drain ended before the events did; raise --load-positions');
    return Math.round((this.last.stored - this.from.stored) / ((this.last.at - this.from.at) / 1000));
  }

  /** Interrupts the processor bench, which then cleans up after itself (its stack, its stream). */
  async stop(): Promise<void> {
    if (this.child) await stopChild(this.child, 'SIGTERM');
  }
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
const round1 = (x: number) => Math.round(x * 10) / 10;

async function main(signal: AbortSignal): Promise<Record<string, unknown>> {
  const stream = `bench:telemetry:${randomUUID()}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const secret = randomBytes(24).toString('hex');
  const receiver = new Receiver(secret);
  let stopStack: (() => Promise<void>) | null = null;
  let processor: MeasuredProcessor | null = null;
  let db: Db | null = null;
  const load = args['with-load'] ? new ProcessorLoad() : null;
  try {
    // Its stack starts alongside this one's; the events wait for its drain below.
    const loading = load?.start();
    loading?.catch(() => undefined);
    let t = performance.now();
    // Directus in a session of its own, as `npm start` runs it (see MeasuredProcessor).
    const running = await startTestStack(11, { directusSession: true });
    stopStack = running.stop;
    const { stack } = running;
    db = connectDb(stack.databaseUrl, { pool: 2 });
    progress(`Directus stack ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    await receiver.start();
    const token = await adminToken(stack);
    const sub = await call(stack, '/items/webhook_subscriptions', { token, body: { name: 'Bench integrator', url: receiver.url, secret, active: true, event_types: null } });
    if (sub.status !== 200) throw new Error(`creating the subscription: ${sub.status} ${sub.text}`);
    const { flowOnlyMs } = await createFlow(stack, token, receiver);
    const flowOnly = [...flowOnlyMs].sort((a, b) => a - b);
    progress(`Flow active; REST-created race event → webhook: p50 ${percentile(flowOnly, 50).toFixed(1)} ms on an idle stack`);

    processor = await MeasuredProcessor.start({
      DATABASE_URL: stack.databaseUrl,
      REDIS_URL,
      REDIS_TELEMETRY_STREAM: stream,
      PROCESSOR_CONSUMER: 'bench',
      METRICS_PORT: String(await freePort()),
      LOG_LEVEL: 'silent',
      DIRECTUS_URL: stack.directusUrl,
      DIRECTUS_TOKEN: stack.processorToken,
    });
    const factPosts = processor.posts;
    if (loading) {
      progress('waiting for the processor load to start draining');
      await loading;
      load!.measure();
    }

    const warmupCount = warmupSeconds * rate;
    const total = warmupCount + events;
    const sent = new Map<string, Sent>();
    t = performance.now();
    progress(`sending ${total} far fixes (${warmupCount} warm-up) at ${rate}/s on ${stream}`);
    await produce(redis, stream, total, warmupCount, sent, signal);
    const sendSeconds = (performance.now() - t) / 1000;
    const waitFrom = performance.now();
    const matched = () => [...receiver.keyOf.values()].filter((key) => sent.has(key)).length;
    while (matched() < total && performance.now() < waitFrom + timeoutMs) {
      signal.throwIfAborted();
      await sleep(50);
    }
    const waitedMs = performance.now() - waitFrom;
    await sleep(1000); // late duplicates would come now
    progress(`${matched()} of ${total} events received`);
    const loadRate = load?.rate() ?? null;
    await load?.stop();

    const latencies: number[] = [];
    const toPost: number[] = [];
    const inPost: number[] = [];
    const received = new Set<string>();
    for (const [id, key] of receiver.keyOf) {
      const s = sent.get(key);
      if (!s) continue;
      received.add(key);
      if (s.warmup) continue;
      latencies.push(receiver.firstAt.get(id)! - s.xaddAt);
      const post = factPosts.get(key);
      if (post) {
        toPost.push(post.sentAt - s.xaddAt);
        inPost.push(post.answeredAt - post.sentAt);
      }
    }
    for (const list of [latencies, toPost, inPost]) list.sort((a, b) => a - b);
    const lost = total - received.size;
    const firstXaddAt = Math.min(...[...sent.values()].map((s) => s.xaddAt));
    const duplicated = receiver.deliveries - receiver.firstAt.size;
    // Every far fix is one stored event: no more, no fewer.
    const [stored] = await db('race_events').where({ type: 'anomaly.detected' }).count<{ count: string }[]>('* as count');
    return {
      bench: 'events',
      events: latencies.length,
      events_per_s: Math.round(total / sendSeconds),
      p50_ms: round1(percentile(latencies, 50)),
      p99_ms: round1(percentile(latencies, 99)),
      lost,
      duplicated,
      max_ms: round1(latencies.at(-1) ?? Number.NaN),
      p90_ms: round1(percentile(latencies, 90)),
      warmup_events: warmupCount,
      xadd_to_facts_post_p50_ms: round1(percentile(toPost, 50)),
      facts_post_p50_ms: round1(percentile(inPost, 50)),
      delivered_per_s: Math.round(received.size / ((Math.max(...receiver.firstAt.values()) - firstXaddAt) / 1000)),
      waited_s: Math.round(waitedMs / 100) / 10,
      load_average: loadavg().map((x) => Math.round(x * 10) / 10),
      stored_events: Number(stored!.count),
      bad_signatures: receiver.badSignatures,
      flow_only_p50_ms: round1(percentile(flowOnly, 50)),
      flow_only_p99_ms: round1(percentile(flowOnly, 99)),
      devices: demoEntries.length,
      ...(load ? { with_load: true, load_positions: loadPositions, load_positions_per_s: loadRate } : { with_load: false }),
      ...(await measuredOn(db, redis)),
      directus: stack.version,
      date: new Date().toISOString(),
    };
  } finally {
    const steps: [string, () => Promise<unknown>][] = [
      ['stop the processor load', async () => load?.stop()],
      ['stop the processor', async () => processor?.stop()],
      ['close the receiver', () => receiver.close()],
      ['delete stream', () => redis.del(stream, `${stream}:dead-letter`)],
      ['close redis', () => redis.quit()],
      ['close postgres', async () => db?.destroy()],
      ['stop Directus and drop its database', async () => stopStack?.()],
    ];
    await cleanUp(steps, progress);
  }
}

if (args['processor-child']) await runMeasuredProcessor();
else {
  // The load, the processor and Directus run in sessions of their own, out of reach of a terminal's Ctrl-C: the run
  // stops at its next step and its cleanup stops them.
  const abort = new AbortController();
  for (const signalName of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signalName, () => {
      progress(`${signalName}: stopping and cleaning up`);
      abort.abort(new Error(`interrupted by ${signalName}`));
    });
  }
  report(main(abort.signal), progress);
}
