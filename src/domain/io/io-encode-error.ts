/** A decoded value that no raw value of its mapping decodes to; checked with `instanceof`, never by message. */
export class IoEncodeError extends Error {
  override readonly name = 'IoEncodeError';

  constructor(message: string) {
    super(message);
  }
}
