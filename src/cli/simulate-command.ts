import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { publishFixes } from '../simulator/publish.ts';
import { deliveryOrder, simulateRace } from '../simulator/race-schedule.ts';
import { reportConnection } from '../stream/connection-report.ts';

const HELP = `usage: pitwall simulate [options]

Writes 1 Hz tracks of the demo entries to REDIS_TELEMETRY_STREAM in the tcp-ingestion format.

  --entries N         how many demo entries drive (1-20, default 20)
  --stage ss1|ss2|all which stages (default all)
  --start ISO         GPS time of the first departure (default now); at --speed 1, the fixes of a
                      start in the past go at once (a fleet's buffered upload), the rest in real time
  --after ISO         the first round sends only fixes after this GPS time (a round resumed: the fixes
                      up to it were sent before)
  --speed F           1 = real time (default), 10 = ten times faster, 0 = as fast as possible
                      (faster than real time from now, fixes run ahead of the clock and the processor
                      dead-letters those beyond its MAX_FUTURE_SKEW_MS: give --start in the past)
  --duplicates P      share of fixes sent twice (e.g. 0.02)
  --out-of-order P    share of fixes swapped with the next fix of their device
  --late-burst S      one tracker out of coverage for S seconds, its fixes arriving together afterwards
  --loop              start the race again when it ends (demo mode)
  --seed N            tracks are the same for the same seed (default 1)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      entries: { type: 'string', default: '20' },
      stage: { type: 'string', default: 'all' },
      start: { type: 'string' },
      after: { type: 'string' },
      speed: { type: 'string', default: '1' },
      duplicates: { type: 'string', default: '0' },
      'out-of-order': { type: 'string', default: '0' },
      'late-burst': { type: 'string', default: '0' },
      loop: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const share = z.coerce.number().min(0).max(1);
  const args = z
    .object({
      entries: z.coerce.number().int().min(1).max(20),
      stage: z.enum(['ss1', 'ss2', 'all']),
      start: z.iso.datetime({ offset: true }).optional(),
      after: z.iso.datetime({ offset: true }).optional(),
      speed: z.coerce.number().min(0),
      duplicates: share,
      'out-of-order': share,
      'late-burst': z.coerce.number().int().min(0),
      loop: z.boolean(),
      seed: z.coerce.number().int(),
      help: z.boolean(),
    })
    .safeParse(values);
  if (!args.success) {
    console.error(`pitwall simulate: ${args.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}\n\n${HELP}`);
    return 2;
  }
  const options = args.data;
  const env = loadConfig(z.object({ REDIS_URL: vars.redisUrl, REDIS_TELEMETRY_STREAM: vars.telemetryStream }));
  // A tracker fleet waits for Redis to come back rather than giving up.
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  reportConnection(redis, {
    warn: (error) => console.error(`redis connection lost (${error.message}); waiting for it`),
    back: () => console.error('redis connection back'),
  });
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  console.log(`simulating ${options.entries} entries on ${options.stage} into stream "${env.REDIS_TELEMETRY_STREAM}" at ${options.speed || 'full'} speed`);
  try {
    let round = 0;
    do {
      const start = options.start && round === 0 ? Date.parse(options.start) : Date.now();
      const race = simulateRace({ start, entries: options.entries, stages: options.stage === 'all' ? ['ss1', 'ss2'] : [options.stage], seed: options.seed + round });
      const after = options.after && round === 0 ? Date.parse(options.after) : Number.NEGATIVE_INFINITY;
      const fixes = race.filter((fix) => fix.ts > after);
      const ordered = deliveryOrder(fixes, { duplicates: options.duplicates, outOfOrder: options['out-of-order'], lateBurstSeconds: options['late-burst'], seed: options.seed + round });
      const sent = await publishFixes(redis, env.REDIS_TELEMETRY_STREAM, ordered, { speed: options.speed, atGpsTime: true, signal: abort.signal });
      console.log(`round ${round + 1}: sent ${sent} entries (${fixes.length} distinct fixes)`);
      round++;
    } while (options.loop && !abort.signal.aborted);
  } finally {
    redis.disconnect();
  }
  return 0;
}
