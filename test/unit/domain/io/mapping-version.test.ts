import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mappingVersion } from '../../../../src/domain/io/index.ts';
import type { IoMapping } from '../../../../src/domain/io/index.ts';
import { fmb920Mappings } from './fmb920-mappings.ts';

describe('mappingVersion', () => {
  it('is 16 lower-case hex characters and stable', () => {
    const version = mappingVersion(fmb920Mappings);
    expect(version).toMatch(/^[0-9a-f]{16}$/);
    expect(mappingVersion(structuredClone(fmb920Mappings))).toBe(version);
  });

  it('does not depend on the key order inside a row', () => {
    const reordered = fmb920Mappings.map((m) => ({
      invalidValues: m.invalidValues,
      unit: m.unit,
      offset: m.offset,
      multiplier: m.multiplier,
      byteSize: m.byteSize,
      valueType: m.valueType,
      attribute: m.attribute,
      ioId: m.ioId,
    }));
    expect(mappingVersion(reordered)).toBe(mappingVersion(fmb920Mappings));
  });

  it('differs for an empty table', () => {
    expect(mappingVersion([])).toMatch(/^[0-9a-f]{16}$/);
    expect(mappingVersion([])).not.toBe(mappingVersion(fmb920Mappings));
  });

  it('is independent of row order (property)', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(fmb920Mappings, { minLength: fmb920Mappings.length }), (shuffled) => {
        expect(mappingVersion(shuffled)).toBe(mappingVersion(fmb920Mappings));
      }),
    );
  });

  const changes: [string, (m: IoMapping) => IoMapping][] = [
    ['ioId', (m) => ({ ...m, ioId: m.ioId + 1000 })],
    ['attribute', (m) => ({ ...m, attribute: `${m.attribute}_x` })],
    ['valueType', (m) => ({ ...m, valueType: m.valueType === 'ascii' ? 'hex' : 'ascii' })],
    ['byteSize', (m) => ({ ...m, byteSize: m.byteSize + 1 })],
    ['multiplier', (m) => ({ ...m, multiplier: m.multiplier * 10 })],
    ['offset', (m) => ({ ...m, offset: m.offset + 0.5 })],
    ['unit', (m) => ({ ...m, unit: m.unit === null ? 'x' : null })],
    ['invalidValues', (m) => ({ ...m, invalidValues: [...(m.invalidValues ?? []), 7] })],
    ['invalidValues null to empty', (m) => ({ ...m, invalidValues: m.invalidValues === null ? [] : null })],
  ];

  it.each(changes)('changes when %s of any row changes (property)', (_, change) => {
    const base = mappingVersion(fmb920Mappings);
    fc.assert(
      fc.property(fc.nat({ max: fmb920Mappings.length - 1 }), (index) => {
        const edited = fmb920Mappings.map((m, i) => (i === index ? change(m) : m));
        expect(mappingVersion(edited)).not.toBe(base);
      }),
      { numRuns: fmb920Mappings.length * 3 },
    );
  });

  it('tells a number from the same digits as a string', () => {
    const row = fmb920Mappings[0]!;
    expect(mappingVersion([{ ...row, invalidValues: [850] }])).not.toBe(mappingVersion([{ ...row, invalidValues: ['850'] }]));
  });
});
