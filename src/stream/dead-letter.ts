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

/**
 * Dead letters keep the original fields beside the reason, so an operator can fix and re-inject them:
 * `source_id`, `category`, `reason`, then `original_<field>` for each field of the entry.
 */
export async function writeDeadLetters(redis: Redis, deadLetterStream: string, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const pipeline = redis.multi();
  for (const letter of letters) {
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
  }
  const results = await pipeline.exec();
  const failed = results?.find(([error]) => error);
  if (failed) throw failed[0];
}
