/**
 * A backfill that cannot start with what it was given: an unknown model or IMEI, a model without an IO mapping,
 * or a database without the Directus collections. Checked with `instanceof`; the run fails with this message.
 */
export class BackfillTargetError extends Error {
  override readonly name = 'BackfillTargetError';

  constructor(message: string) {
    super(message);
  }
}
