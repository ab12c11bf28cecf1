import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { factId } from '../../../../src/domain/pipeline/fact-ids.ts';
import { factKey } from '../../../../src/domain/pipeline/facts.ts';
import { fastFactId } from '../../../../src/jobs/replay/fast-fact-id.ts';

describe('fastFactId', () => {
  it('is factId, for fact keys and for any text', () => {
    expect(fastFactId(factKey.stageResult('11111111-1111-4111-8111-111111111111', '33333333-3333-4333-8333-333333333333'))).toBe(
      factId(factKey.stageResult('11111111-1111-4111-8111-111111111111', '33333333-3333-4333-8333-333333333333')),
    );
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 120 }), (key) => {
      expect(fastFactId(key)).toBe(factId(key));
    }), { numRuns: 2000 });
  });
});
