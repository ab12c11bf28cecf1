import { describe, expect, it } from 'vitest';
import { ioMappingFieldProblem, ioMappingProblem } from '../../../../src/domain/io/io-mapping-problem.ts';
import type { IoMapping } from '../../../../src/domain/io/io-mapping.ts';

const usable: IoMapping = { ioId: 9, attribute: 'analog_input_1', valueType: 'unsigned', byteSize: 2, multiplier: 0.001, offset: 0, unit: 'V', invalidValues: [65535] };

describe('ioMappingFieldProblem', () => {
  it('finds nothing wrong with a usable row', () => {
    expect(ioMappingFieldProblem(usable)).toBeNull();
    expect(ioMappingProblem(usable)).toBeNull();
  });

  it.each([
    [{ attribute: 42 as unknown as string }, 'attribute', 'attribute must be a string, got number'],
    [{ attribute: 'nul\u0000here' }, 'attribute', 'attribute "nul\\u0000here" has'],
    [{ valueType: 'bogus' as IoMapping['valueType'] }, 'valueType', 'valueType "bogus" is not one of unsigned, signed, boolean, hex, ascii'],
    [{ byteSize: 0 }, 'byteSize', 'byteSize must be an integer in 1..255, got 0'],
    [{ byteSize: 1.5 }, 'byteSize', 'byteSize must be an integer in 1..255, got 1.5'],
    [{ multiplier: Number.NaN }, 'multiplier', 'multiplier must be a finite number, got NaN'],
    [{ offset: Number.POSITIVE_INFINITY }, 'offset', 'offset must be a finite number, got Infinity'],
    [{ invalidValues: [-1] }, 'invalidValues', 'invalidValues entry -1 is not a raw value'],
    [{ invalidValues: ['12a'] }, 'invalidValues', 'invalidValues entry "12a" is not a non-negative decimal integer'],
    [{ invalidValues: { 850: true } as unknown as number[] }, 'invalidValues', 'invalidValues must be a list of raw values, got {"850":true}'],
    [{ invalidValues: 'none' as unknown as number[] }, 'invalidValues', 'invalidValues must be a list of raw values, got "none"'],
  ] as const)('names the field of %j', (change, field, message) => {
    const problem = ioMappingFieldProblem({ ...usable, ...change });
    expect(problem?.field).toBe(field);
    expect(problem?.message).toContain(message);
    expect(ioMappingProblem({ ...usable, ...change })).toBe(problem?.message);
  });

  it('shows a long value of the wrong shape cut short, since the message goes into every fix', () => {
    const message = ioMappingFieldProblem({ ...usable, invalidValues: { text: 'x'.repeat(100_000) } as unknown as number[] })!.message;
    expect(message).toBe(`invalidValues must be a list of raw values, got {"text":"${'x'.repeat(71)}…`);
  });

  it('lets a boolean row keep a stray multiplier: scaling applies to numbers only', () => {
    expect(ioMappingFieldProblem({ ...usable, valueType: 'boolean', byteSize: 1, multiplier: Number.NaN, invalidValues: null })).toBeNull();
  });
});
