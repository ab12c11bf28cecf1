import { z } from 'zod';

/** A configuration problem found at start; the message names the variable so an operator can fix it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly variable: string, detail: string) {
    super(`${variable}: ${detail}`);
  }
}

/**
 * Checks the environment against a zod object whose keys are variable names.
 * Every problem is reported, each with the name of its variable.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    picked[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? '?');
    const detail = picked[variable] === undefined ? `is required (${issue.message})` : `invalid value (${issue.message})`;
    return new ConfigError(variable, detail);
  });
  const first = problems[0]!;
  if (problems.length === 1) throw first;
  throw new ConfigError(first.variable, problems.map((p) => p.message).join('; ').slice(first.variable.length + 2));
}

const MAX_TIMER_MS = 2_147_483_647;

/** Shared variable shapes, so every process reads and checks them the same way. */
export const vars = {
  redisUrl: z.string().regex(/^rediss?:\/\//, 'expected redis://host:port[/db]').default('redis://127.0.0.1:6379'),
  /** ONE stream name for every process (CONTRACTS section 1); a mismatch once meant hours of silent zero throughput. */
  telemetryStream: z.string().regex(/^\S+$/, 'expected a Redis key without spaces').default('telemetry:teltonika'),
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'expected postgres://user@host:port/database'),
  port: (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  /** Milliseconds that drive a timer: Node keeps one of at most 2^31-1 ms, and runs a longer one after 1 ms, again and again. */
  durationMs: (fallback: number, min = 1) =>
    z.coerce.number().int().min(min).max(MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest timer Node keeps`).default(fallback),
  url: z.url({ protocol: /^https?$/ }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};
