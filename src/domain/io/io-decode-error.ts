/** A raw IO value (or its mapping) that cannot be decoded; checked with `instanceof`, never by message. */
export class IoDecodeError extends Error {
  override readonly name = 'IoDecodeError';

  constructor(message: string) {
    super(message);
  }
}
