import type { RawAttributes } from '../position.ts';
import { isBigintText, isRoundedInteger } from '../read-well-formed-entry.ts';

/** Whether any attribute of a parsed payload is a plain number JSON.parse may have rounded. */
export function holdsRoundedInteger(attributes: RawAttributes): boolean {
  for (const id in attributes) {
    const value = attributes[id];
    if (typeof value === 'number' && isRoundedInteger(value)) return true;
  }
  return false;
}

/** The IO ids whose value is still a number past 2^53: its digits are lost, and no 64-bit form keeps them. */
export function roundedIoIds(attributes: RawAttributes): string[] {
  const ids: string[] = [];
  for (const id in attributes) {
    const value = attributes[id];
    if (typeof value === 'number' && isRoundedInteger(value)) ids.push(id);
  }
  return ids;
}

/**
 * The payload's attributes with every plain integer past 2^53 written in the contract's 64-bit form,
 * `{"__bigint": "<the digits as sent>"}`. A sender that writes a 64-bit IO value (an ICCID, an iButton id) as a plain
 * JSON number means those digits, and JSON.parse keeps only the nearest double: stored and decoded so, the value
 * would be wrong in its last digits. The digits are taken from the payload's own text (JSON.parse's source access);
 * numbers past 64 bits, or written with a fraction or an exponent, have no 64-bit form and stay as parsed
 * (roundedIoIds finds them).
 */
export function exactBigIntegers(payload: string): RawAttributes {
  const parsed = JSON.parse(payload, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && isRoundedInteger(value) && context?.source !== undefined && isBigintText(context.source)
      ? { __bigint: context.source }
      : value,
  ) as { attributes: RawAttributes };
  return parsed.attributes;
}
