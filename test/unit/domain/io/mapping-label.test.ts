import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mappingVersion } from '../../../../src/domain/io/index.ts';
import { mappingLabel } from '../../../../src/domain/io/mapping-label.ts';
import { fmb920Mappings } from './fmb920-mappings.ts';

const hash = fc.stringMatching(/^[0-9a-f]{16}$/);
const revision = fc.integer({ min: 0, max: 10 ** 12 - 1 });
/** Byte order, as Postgres compares with COLLATE "C" (the labels are ASCII, so code units are bytes). */
const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('mappingLabel', () => {
  it('is the revision in 12 digits and the mapping hash', () => {
    expect(mappingLabel(42, mappingVersion(fmb920Mappings))).toBe(`r000000000042-${mappingVersion(fmb920Mappings)}`);
  });

  it('orders labels by revision, whatever the hashes', () => {
    fc.assert(
      fc.property(revision, revision, hash, hash, (r1, r2, h1, h2) => {
        fc.pre(r1 !== r2);
        expect(Math.sign(byteOrder(mappingLabel(r1, h1), mappingLabel(r2, h2)))).toBe(Math.sign(r1 - r2));
      }),
    );
  });

  it('puts every old bare-hash version before any label, revision 0 included', () => {
    fc.assert(
      fc.property(hash, revision, hash, (old, r, h) => {
        expect(byteOrder(old, mappingLabel(r, h))).toBe(-1);
      }),
    );
  });

  it('refuses a revision or hash that would break the order', () => {
    expect(() => mappingLabel(10 ** 12, 'aaaaaaaaaaaaaaaa')).toThrow(RangeError);
    expect(() => mappingLabel(-1, 'aaaaaaaaaaaaaaaa')).toThrow('mapping revision must be an integer in 0..999999999999, got -1');
    expect(() => mappingLabel(1.5, 'aaaaaaaaaaaaaaaa')).toThrow(RangeError);
    expect(() => mappingLabel(1, 'AAAAAAAAAAAAAAAA')).toThrow('mapping hash must be 16 lower-case hex digits, got "AAAAAAAAAAAAAAAA"');
  });
});
