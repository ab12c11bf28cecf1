import { ConfigError } from './env.ts';

/** How every placeholder of `.env.example` is marked. */
export const PLACEHOLDER_MARK = 'CHANGE-ME';
export const MIN_SECRET_LENGTH = 32;

export interface SecretToCheck {
  variable: string;
  /** Undefined: not set, nothing to check (a required variable is loadConfig's to refuse). */
  value: string | undefined;
  /** What the value is, when it is only part of the variable (the password in DATABASE_URL). */
  part?: string;
}

/** Why a secret is not fit for a deployment, or null: a placeholder left as it is, or too short to be random. */
export function weakSecretReason(value: string): string | null {
  if (value.toUpperCase().includes(PLACEHOLDER_MARK)) return `is still the placeholder of .env.example (${PLACEHOLDER_MARK}…): set a random value`;
  if (value.length < MIN_SECRET_LENGTH) return `is ${value.length} characters long: use at least ${MIN_SECRET_LENGTH} random characters (for example \`openssl rand -hex 24\`)`;
  return null;
}

/**
 * Refuses placeholders and short secrets with a ConfigError naming each variable (never its value), so a
 * deployment cannot start on the values of `.env.example` or on a guessable token.
 */
export function requireStrongSecrets(secrets: readonly SecretToCheck[]): void {
  const problems = secrets.flatMap(({ variable, value, part }) => {
    const reason = value === undefined ? null : weakSecretReason(value);
    return reason === null ? [] : [new ConfigError(variable, part ? `${part} ${reason}` : reason)];
  });
  const first = problems[0];
  if (!first) return;
  if (problems.length === 1) throw first;
  throw new ConfigError(first.variable, problems.map((p) => p.message).join('; ').slice(first.variable.length + 2));
}

/** The password in a postgres:// URL, decoded; undefined when it has none (trust or peer authentication). */
export function passwordInUrl(url: string): string | undefined {
  try {
    const { password } = new URL(url);
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}
