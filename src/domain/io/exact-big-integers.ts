import type { RawAttributes } from '../position.ts';
import { BIGINT_TEXT, isRoundedInteger } from '../read-well-formed-entry.ts';

/** Whether any attribute of a parsed payload is a plain number JSON.parse may have rounded. */
export function holdsRoundedInteger(attributes: RawAttributes): boolean {
  for (const id in attributes) {
    const value = attributes[id];
    if (typeof value === 'number' && isRoundedInteger(value)) return true;
  }
  return false;
}

/**
 * The payload's attributes with every plain integer past 2^53 written in the contract's 64-bit form,
 * `{"__bigint": "<the digits as sent>"}`. A sender that writes a 64-bit IO value (an ICCID, an iButton id) as a plain
 * JSON number means those digits, and JSON.parse keeps only the nearest double: stored and decoded so, the value
 * would be wrong in its last digits. The digits are taken from the payload's own text (JSON.parse's source access);
 * numbers of more than 20 digits, or written with a fraction or an exponent, have no 64-bit form and stay as parsed.
 */
export function exactBigIntegers(payload: string): RawAttributes {
  const parsed = JSON.parse(payload, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && isRoundedInteger(value) && context?.source !== undefined && BIGINT_TEXT.test(context.source)
      ? { __bigint: context.source }
      : value,
  ) as { attributes: RawAttributes };
  return parsed.attributes;
}
