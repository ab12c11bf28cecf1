import type { Redis } from 'ioredis';

/**
 * Why an entry was dead-lettered, in one word (the metric's `reason` label; the letter's reason says exactly what):
 * - malformed: not a Position by the contract, or values the positions table cannot hold;
 * - trimmed: the stream no longer had the entry's content when it was read;
 * - future: dated further ahead of the processor's clock than MAX_FUTURE_SKEW_MS allows;
 * - database: Postgres refused its row when the batch around it was stored.
 */
export const DEAD_LETTER_CATEGORIES = ['malformed', 'trimmed', 'future', 'database'] as const;
export type DeadLetterCategory = (typeof DEAD_LETTER_CATEGORIES)[number];

export interface DeadLetter {
  /** Id of the entry in the telemetry stream. */
  id: string;
  category: DeadLetterCategory;
  reason: string;
  fields: Record<string, string> | null;
}

/** How long a written letter is remembered, so that the same entry read again is not lettered twice. */
const LETTERED_TTL_S = 7 * 24 * 3600;

/** The key that remembers an entry was lettered; its hash tag puts it in the dead-letter stream's cluster slot. */
export const letteredKey = (deadLetterStream: string, sourceId: string) => `pitwall:{${deadLetterStream}}:lettered:${sourceId}`;

/**
 * Dead letters keep the original fields beside the reason, so an operator can fix and re-inject them:
 * `source_id`, `category`, `reason`, then `original_<field>` for each field of the entry.
 *
 * Once per entry: a batch stored but not committed (a processor killed in between, Redis gone before the commit) is
 * read and stored again, and its letters with it. Each letter is written in one MULTI with a key that remembers it
 * for a week, and a letter whose key exists is not written again.
 */
export async function writeDeadLetters(redis: Redis, deadLetterStream: string, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const keys = letters.map((letter) => letteredKey(deadLetterStream, letter.id));
  const lettered = await redis.mget(...keys);
  // Within a batch too: an entry is refused once, but a caller may list it twice.
  const queued = new Set<string>();
  const pipeline = redis.multi();
  letters.forEach((letter, i) => {
    const key = keys[i]!;
    if (lettered[i] !== null || queued.has(key)) return;
    queued.add(key);
    const original = letter.fields ?? {};
    pipeline.xadd(
      deadLetterStream,
      '*',
      'source_id',
      letter.id,
      'category',
      letter.category,
      'reason',
      letter.reason,
      ...Object.entries(original).flatMap(([k, v]) => [`original_${k}`, v]),
    );
    pipeline.set(key, '1', 'EX', LETTERED_TTL_S);
  });
  if (queued.size === 0) return;
  const results = await pipeline.exec();
  const failed = results?.find(([error]) => error);
  if (failed) throw failed[0];
}
