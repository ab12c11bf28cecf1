import { describe, expect, it } from 'vitest';
import { isSealed, seal, SEALED_PREFIX, sealingKey, unseal, UnsealError } from '../../../extensions/pitwall/src/shared/sealed-text.ts';

const key = sealingKey('a-directus-secret-of-the-deployment-0123456789', 'webhook chain target');

describe('sealed text (AES-256-GCM, key by HKDF from Directus SECRET)', () => {
  it('opens what it sealed, and the seal shows nothing of the clear text', () => {
    const clear = JSON.stringify({ url: 'https://u:p@integrator.example/hook', secret: 'whsec_0123456789abcdef' });
    const sealed = seal(clear, key, 'ctx');
    expect(sealed.startsWith(SEALED_PREFIX)).toBe(true);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('whsec');
    expect(sealed).not.toContain('integrator');
    expect(unseal(sealed, key, 'ctx')).toBe(clear);
  });

  it('seals the same text differently each time (random IV)', () => {
    expect(seal('same', key, 'ctx')).not.toBe(seal('same', key, 'ctx'));
  });

  it('derives the same key from the same SECRET, and another from another SECRET or purpose', () => {
    expect(sealingKey('a-directus-secret-of-the-deployment-0123456789', 'webhook chain target').equals(key)).toBe(true);
    expect(sealingKey('another-secret', 'webhook chain target').equals(key)).toBe(false);
    expect(sealingKey('a-directus-secret-of-the-deployment-0123456789', 'other purpose').equals(key)).toBe(false);
    expect(key.length).toBe(32);
  });

  it('refuses another key, another context, an altered seal and text that is not a seal', () => {
    const sealed = seal('whsec_x', key, 'ctx');
    expect(() => unseal(sealed, sealingKey('another-secret', 'webhook chain target'), 'ctx')).toThrow(UnsealError);
    expect(() => unseal(sealed, key, 'other-ctx')).toThrow(/cannot be opened with this key/);
    const body = sealed.slice(SEALED_PREFIX.length);
    const altered = SEALED_PREFIX + (body[0] === 'A' ? 'B' : 'A') + body.slice(1);
    expect(() => unseal(altered, key, 'ctx')).toThrow(UnsealError);
    expect(() => unseal('whsec_x', key, 'ctx')).toThrow('not sealed text (expected the enc:v1: prefix)');
    expect(() => unseal(`${SEALED_PREFIX}abc`, key, 'ctx')).toThrow('sealed text is truncated');
  });

  it('without a SECRET, uses one random key for the whole process', () => {
    expect(sealingKey(undefined, 'p').equals(sealingKey('', 'p'))).toBe(true);
    expect(sealingKey(undefined, 'p').equals(sealingKey('x', 'p'))).toBe(false);
  });
});
