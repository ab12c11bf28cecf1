import type { Redis } from 'ioredis';

export interface DeadLetter {
  /** Id of the entry in the telemetry stream. */
  id: string;
  reason: string;
  fields: Record<string, string> | null;
}

/** Dead letters keep the original fields beside the reason, so an operator can fix and re-inject them. */
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
      'reason',
      letter.reason,
      ...Object.entries(original).flatMap(([k, v]) => [`original_${k}`, v]),
    );
  }
  const results = await pipeline.exec();
  const failed = results?.find(([error]) => error);
  if (failed) throw failed[0];
}
