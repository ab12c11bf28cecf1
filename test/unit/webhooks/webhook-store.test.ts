import { beforeEach, describe, expect, it } from 'vitest';
import { keepMaskOutOfSecret } from '../../../extensions/pitwall/src/shared/subscription-secret-guard.ts';
import { forgetSubscriptions, UNDECRYPTABLE_SECRET, withClearSecrets } from '../../../extensions/pitwall/src/shared/webhook-store.ts';

/** Shaped as Directus's encrypt special stores a value; the test's "Directus" decrypts it by a table. */
const ciphertext = (tag: string) => `1||scrypt||16384||8||1||c2FsdA==||aXY=||${tag}||dGFn`;
const row = (id: number, secret: string | null, url = `https://integrator.example/${id}`) => ({ id, url, secret, event_types: null, active: true });

function fakeDirectus(clear: Record<string, string | null>) {
  const asked: (string | number)[][] = [];
  const decrypt = async (ids: (string | number)[]) => {
    asked.push(ids);
    return ids.map((id) => ({ id, url: `https://integrator.example/${id}`, secret: clear[String(id)] ?? null }));
  };
  return { decrypt, asked };
}

describe('withClearSecrets', () => {
  beforeEach(() => forgetSubscriptions());

  it('asks Directus to decrypt a ciphertext once, then remembers it until the subscriptions change', async () => {
    const directus = fakeDirectus({ 1: 'whsec_one', 2: 'whsec_two' });
    const rows = [row(1, ciphertext('a')), row(2, ciphertext('b'))];
    expect((await withClearSecrets(rows, directus.decrypt)).map((r) => r.secret)).toEqual(['whsec_one', 'whsec_two']);
    expect((await withClearSecrets(rows, directus.decrypt)).map((r) => r.secret)).toEqual(['whsec_one', 'whsec_two']);
    expect(directus.asked).toEqual([[1, 2]]);
    forgetSubscriptions();
    await withClearSecrets(rows, directus.decrypt);
    expect(directus.asked).toEqual([[1, 2], [1, 2]]);
  });

  it('asks again for a subscription whose ciphertext changed (its secret was replaced)', async () => {
    const directus = fakeDirectus({ 1: 'whsec_one' });
    await withClearSecrets([row(1, ciphertext('a'))], directus.decrypt);
    directus.asked.length = 0;
    await withClearSecrets([row(1, ciphertext('new'))], directus.decrypt);
    expect(directus.asked).toEqual([[1]]);
  });

  it('uses a secret stored before encryption as it is, without asking Directus', async () => {
    const directus = fakeDirectus({});
    const [clear] = await withClearSecrets([row(3, 'whsec_legacy_clear')], directus.decrypt);
    expect(clear).toMatchObject({ id: 3, secret: 'whsec_legacy_clear' });
    expect(directus.asked).toEqual([]);
  });

  it('says why when Directus cannot decrypt a secret, or there is none', async () => {
    const directus = fakeDirectus({ 4: null });
    const [undecryptable, missing] = await withClearSecrets([row(4, ciphertext('x')), row(5, null)], directus.decrypt);
    expect(undecryptable).toMatchObject({ id: 4, secret: null, secretProblem: UNDECRYPTABLE_SECRET });
    expect(missing).toMatchObject({ id: 5, secret: null, secretProblem: 'the subscription has no secret' });
  });
});

describe('keepMaskOutOfSecret', () => {
  it('keeps the stored secret when an update sends back the mask, and passes real secrets', () => {
    expect(keepMaskOutOfSecret({ name: 'A', secret: '**********' }, 'update')).toEqual({ name: 'A' });
    expect(keepMaskOutOfSecret({ secret: 'whsec_new' }, 'update')).toEqual({ secret: 'whsec_new' });
    expect(keepMaskOutOfSecret({ name: 'B' }, 'create')).toEqual({ name: 'B' });
  });

  it('refuses a new subscription whose secret is the mask (a copy of another)', () => {
    expect(() => keepMaskOutOfSecret({ name: 'Copy', secret: '**********' }, 'create')).toThrow(/set the new subscription's own secret/);
  });
});
