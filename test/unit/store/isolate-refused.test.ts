import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isolateRefused } from '../../../src/store/isolate-refused.ts';

class Refusal extends Error {
  override readonly name = 'Refusal';
}
const isRefusal = (error: unknown) => error instanceof Refusal;

/** A fake store: refuses any part holding a bad item, keeps what it accepts, counts attempts. */
function fakeStore(bad: (item: number) => boolean) {
  const kept: number[] = [];
  let attempts = 0;
  const attempt = async (part: readonly number[]) => {
    attempts += 1;
    const refused = part.find(bad);
    if (refused !== undefined) throw new Refusal(`item ${refused} refused`);
    kept.push(...part);
  };
  return { kept, attempt, attempts: () => attempts };
}

describe('isolateRefused', () => {
  it('stores everything in one attempt when nothing is refused', async () => {
    const store = fakeStore(() => false);
    expect(await isolateRefused([1, 2, 3], store.attempt, isRefusal)).toEqual([]);
    expect(store.kept).toEqual([1, 2, 3]);
    expect(store.attempts()).toBe(1);
  });

  it('finds every refused item, keeps every other one exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 200 }), async (flags) => {
        const items = flags.map((_, i) => i);
        const store = fakeStore((i) => flags[i]!);
        const refused = await isolateRefused(items, store.attempt, isRefusal);
        expect(refused.map((r) => r.item)).toEqual(items.filter((i) => flags[i]));
        for (const r of refused) expect((r.error as Error).message).toBe(`item ${r.item} refused`);
        expect(store.kept).toEqual(items.filter((i) => !flags[i]));
      }),
    );
  });

  it('needs about 2k·log2(n) attempts for k refused items among n', async () => {
    const store = fakeStore((i) => i === 777);
    const refused = await isolateRefused(Array.from({ length: 2000 }, (_, i) => i), store.attempt, isRefusal);
    expect(refused.map((r) => r.item)).toEqual([777]);
    expect(store.attempts()).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(2000)));
    expect(store.kept).toHaveLength(1999);
  });

  it('does not try again a list whose refusal is known', async () => {
    const store = fakeStore((i) => i === 0);
    const known = new Refusal('known');
    expect(await isolateRefused([0], store.attempt, isRefusal, { error: known })).toEqual([{ item: 0, error: known }]);
    expect(store.attempts()).toBe(0);
  });

  it('keeps rows refused only together, since each half is accepted on its own', async () => {
    const kept: number[] = [];
    const attempt = async (part: readonly number[]) => {
      if (part.includes(1) && part.includes(2)) throw new Refusal('1 and 2 together');
      kept.push(...part);
    };
    expect(await isolateRefused([1, 2], attempt, isRefusal)).toEqual([]);
    expect(kept).toEqual([1, 2]);
  });

  it('throws an error that is not a refusal as it is (the batch is retried whole)', async () => {
    const down = new Error('connection terminated');
    let calls = 0;
    const attempt = async (part: readonly number[]) => {
      calls += 1;
      if (calls === 1) throw new Refusal('a bad row');
      if (part.length < 4) throw down;
    };
    await expect(isolateRefused([1, 2, 3, 4, 5, 6], attempt, isRefusal)).rejects.toBe(down);
  });
});
