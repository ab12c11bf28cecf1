import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { passwordInUrl, requireStrongSecrets } from '../config/strong-secrets.ts';
import { DEFAULT_DATABASE_ROLE } from '../setup/database-role.ts';
import { runSetup } from '../setup/setup.ts';
import { connectDb } from '../store/db.ts';

export const setupEnv = z.object({
  DATABASE_URL: vars.databaseUrl,
  DIRECTUS_URL: vars.url,
  DIRECTUS_ADMIN_EMAIL: z.email(),
  DIRECTUS_ADMIN_PASSWORD: z.string().min(1),
  PITWALL_PROCESSOR_EMAIL: z.email().default('processor@pitwall.example.com'),
  PITWALL_PROCESSOR_TOKEN: z.string().min(32, 'use at least 32 random characters'),
  /** The Postgres role the processor and job runner connect as; setup creates it with this password. */
  PITWALL_DB_ROLE: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and underscores').default(DEFAULT_DATABASE_ROLE),
  /** It goes into the processor's DATABASE_URL as it is (directus-compose.yml): a character a URL reads otherwise is refused. */
  PITWALL_DB_PASSWORD: z.string().regex(/^[A-Za-z0-9._~-]+$/, 'use only letters, digits and - . _ ~: it goes into the processor\'s DATABASE_URL as it is'),
  /** Not needed by setup; checked when given (directus-compose.yml passes it), so Directus never runs on a placeholder. */
  DIRECTUS_SECRET: z.string().optional(),
});

/**
 * Outside the demo, the secrets setup sees must be real: none left at a `.env.example` placeholder, none shorter
 * than 32 characters. The demo keeps its own short, documented values.
 */
export function requireDeploymentSecrets(env: z.infer<typeof setupEnv>): void {
  requireStrongSecrets([
    { variable: 'DATABASE_URL', value: passwordInUrl(env.DATABASE_URL), part: 'its password' },
    { variable: 'DIRECTUS_ADMIN_PASSWORD', value: env.DIRECTUS_ADMIN_PASSWORD },
    { variable: 'PITWALL_PROCESSOR_TOKEN', value: env.PITWALL_PROCESSOR_TOKEN },
    { variable: 'PITWALL_DB_PASSWORD', value: env.PITWALL_DB_PASSWORD },
    { variable: 'DIRECTUS_SECRET', value: env.DIRECTUS_SECRET },
  ]);
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { demo: { type: 'boolean', default: false } } });
  const env = loadConfig(setupEnv);
  if (!values.demo) requireDeploymentSecrets(env);
  const db = connectDb(env.DATABASE_URL, { pool: 2, application: 'pitwall-setup' });
  try {
    const done = await runSetup(
      db,
      {
        directusUrl: env.DIRECTUS_URL,
        databaseUrl: env.DATABASE_URL,
        databaseRole: { name: env.PITWALL_DB_ROLE, password: env.PITWALL_DB_PASSWORD },
        adminEmail: env.DIRECTUS_ADMIN_EMAIL,
        adminPassword: env.DIRECTUS_ADMIN_PASSWORD,
        processorEmail: env.PITWALL_PROCESSOR_EMAIL,
        processorToken: env.PITWALL_PROCESSOR_TOKEN,
        demo: values.demo ?? false,
      },
      (line) => console.log(`  ${line}`),
    );
    console.log(done.length === 0 ? 'setup: nothing to do, everything is in place' : `setup: ${done.length} changes`);
  } finally {
    await db.destroy();
  }
}
