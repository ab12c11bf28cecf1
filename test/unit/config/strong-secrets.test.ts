import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireDeploymentSecrets, setupEnv } from '../../../src/cli/setup-command.ts';
import { ConfigError } from '../../../src/config/env.ts';
import { passwordInUrl, requireStrongSecrets, weakSecretReason } from '../../../src/config/strong-secrets.ts';
import { repoRoot } from '../../../src/devstack/directus-process.ts';
import { runCli } from '../../support/cli.ts';

const strong = 'f3a9c1d2e4b5a6978877665544332211aabbccdd';
/** The values of .env.example, as a user who copied it and changed nothing would pass them to setup. */
const example = Object.fromEntries(
  readFileSync(join(repoRoot, '.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
);

const thrown = (fn: () => void): ConfigError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('weakSecretReason', () => {
  it('refuses the placeholders of .env.example, whatever their case or length', () => {
    expect(weakSecretReason('CHANGE-ME')).toMatch(/placeholder of \.env\.example/);
    expect(weakSecretReason('CHANGE-ME-to-64-random-hex-characters-0123456789abcdef')).toMatch(/placeholder/);
    expect(weakSecretReason('change-me-please-0123456789abcdef0123456789')).toMatch(/placeholder/);
  });

  it('refuses a secret shorter than 32 characters, and says how long it is', () => {
    expect(weakSecretReason('a'.repeat(31))).toBe('is 31 characters long: use at least 32 random characters (for example `openssl rand -hex 24`)');
    expect(weakSecretReason('a'.repeat(32))).toBeNull();
    expect(weakSecretReason(strong)).toBeNull();
  });
});

describe('requireStrongSecrets', () => {
  it('names the variable and never its value', () => {
    const error = thrown(() => requireStrongSecrets([{ variable: 'DIRECTUS_ADMIN_PASSWORD', value: 'hunter2' }]));
    expect(error.variable).toBe('DIRECTUS_ADMIN_PASSWORD');
    expect(error.message).toBe('DIRECTUS_ADMIN_PASSWORD: is 7 characters long: use at least 32 random characters (for example `openssl rand -hex 24`)');
    expect(error.message).not.toContain('hunter2');
  });

  it('reports every weak secret at once, the first one naming the error', () => {
    const error = thrown(() =>
      requireStrongSecrets([
        { variable: 'A_TOKEN', value: strong },
        { variable: 'B_SECRET', value: 'CHANGE-ME' },
        { variable: 'C_PASSWORD', value: 'short' },
        { variable: 'D_UNSET', value: undefined },
      ]),
    );
    expect(error.variable).toBe('B_SECRET');
    expect(error.message).toMatch(/^B_SECRET: is still the placeholder .*; C_PASSWORD: is 5 characters long/);
    expect(error.message).not.toContain('D_UNSET');
  });

  it('passes strong secrets and unset ones', () => {
    expect(() => requireStrongSecrets([{ variable: 'X', value: strong }, { variable: 'Y', value: undefined }])).not.toThrow();
  });
});

describe('passwordInUrl', () => {
  it('finds the password of a database URL, decoded, and nothing when there is none', () => {
    expect(passwordInUrl('postgres://pitwall:CHANGE-ME@postgis:5432/pitwall')).toBe('CHANGE-ME');
    expect(passwordInUrl('postgres://u:p%40ss%2Fword@h/d')).toBe('p@ss/word');
    expect(passwordInUrl('postgres://postgres@127.0.0.1:5432/test')).toBeUndefined();
    expect(passwordInUrl('not a url')).toBeUndefined();
  });
});

describe('setup outside the demo', () => {
  const deployment = (overrides: Record<string, string>) =>
    setupEnv.parse({
      DATABASE_URL: `postgres://pitwall:${strong}@postgis:5432/pitwall`,
      DIRECTUS_URL: 'http://directus:8055',
      DIRECTUS_ADMIN_EMAIL: 'admin@example.com',
      DIRECTUS_ADMIN_PASSWORD: strong,
      PITWALL_PROCESSOR_TOKEN: strong,
      PITWALL_DB_PASSWORD: strong,
      ...overrides,
    });

  it('accepts real secrets, and a database URL without a password', () => {
    expect(() => requireDeploymentSecrets(deployment({ DIRECTUS_SECRET: strong }))).not.toThrow();
    expect(() => requireDeploymentSecrets(deployment({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/pitwall' }))).not.toThrow();
  });

  it('refuses a database role password that the processor\'s DATABASE_URL would read otherwise', () => {
    for (const password of ['pa@ss', 'a/b', 'a:b', 'x y', 'a#b', 'a%b']) {
      expect(() => deployment({ PITWALL_DB_PASSWORD: `${strong}${password}` }), password).toThrow(/letters, digits and - \. _ ~/);
    }
    expect(() => deployment({ PITWALL_DB_PASSWORD: `${strong}-._~` })).not.toThrow();
  });

  it('refuses every placeholder of .env.example it reads', () => {
    expect(example['POSTGRES_PASSWORD']).toContain('CHANGE-ME');
    const error = thrown(() =>
      requireDeploymentSecrets(
        deployment({
          DATABASE_URL: `postgres://pitwall:${example['POSTGRES_PASSWORD']}@postgis:5432/pitwall`,
          DIRECTUS_ADMIN_PASSWORD: example['DIRECTUS_ADMIN_PASSWORD']!,
          PITWALL_PROCESSOR_TOKEN: example['PITWALL_PROCESSOR_TOKEN']!,
          DIRECTUS_SECRET: example['DIRECTUS_SECRET']!,
          ...(example['PITWALL_DB_PASSWORD'] ? { PITWALL_DB_PASSWORD: example['PITWALL_DB_PASSWORD'] } : {}),
        }),
      ),
    );
    expect(error.message).toMatch(/^DATABASE_URL: its password is still the placeholder/);
    for (const variable of ['DIRECTUS_ADMIN_PASSWORD', 'PITWALL_PROCESSOR_TOKEN', 'DIRECTUS_SECRET']) expect(error.message).toContain(`${variable}: is still the placeholder`);
  });

  it('refuses a short admin password or Directus secret', () => {
    expect(thrown(() => requireDeploymentSecrets(deployment({ DIRECTUS_ADMIN_PASSWORD: 'pitwall-demo' }))).variable).toBe('DIRECTUS_ADMIN_PASSWORD');
    expect(thrown(() => requireDeploymentSecrets(deployment({ DIRECTUS_SECRET: 'abc' }))).variable).toBe('DIRECTUS_SECRET');
  });
});

describe('pitwall setup (the command)', () => {
  // Nothing is reached: the configuration is refused before setup connects to anything.
  const env = {
    DATABASE_URL: 'postgres://pitwall:CHANGE-ME@127.0.0.1:1/pitwall',
    DIRECTUS_URL: 'http://127.0.0.1:1',
    DIRECTUS_ADMIN_EMAIL: 'admin@example.com',
    DIRECTUS_ADMIN_PASSWORD: 'CHANGE-ME',
    PITWALL_PROCESSOR_TOKEN: 'CHANGE-ME-to-48-random-characters',
    PITWALL_DB_PASSWORD: 'CHANGE-ME',
  };

  it('stops with exit code 78 and a message naming the variable', async () => {
    const result = await runCli(['setup'], env);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/^pitwall: invalid configuration: DATABASE_URL: its password is still the placeholder of \.env\.example/m);
    expect(result.stderr).toContain('DIRECTUS_ADMIN_PASSWORD: is still the placeholder');
    expect(result.stderr).toContain('PITWALL_PROCESSOR_TOKEN: is still the placeholder');
  }, 30_000);

  it('leaves the demo its own values (it goes on to connect, and fails only there)', async () => {
    const result = await runCli(['setup', '--demo'], env);
    expect(result.stderr).not.toContain('invalid configuration');
    expect(result.code).not.toBe(78);
  }, 30_000);
});
