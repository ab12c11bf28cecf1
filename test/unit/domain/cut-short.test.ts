import { describe, expect, it } from 'vitest';
import { cutShort } from '../../../src/domain/cut-short.ts';

describe('cutShort', () => {
  it('keeps a text of at most max characters and cuts a longer one to max with an ellipsis', () => {
    expect(cutShort('abc', 3)).toBe('abc');
    expect(cutShort('abcd', 3)).toBe('abc…');
    expect(cutShort('', 0)).toBe('');
  });
});
