import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { perTurn } from '../../../extensions/pitwall/src/shared/per-turn.ts';

describe('perTurn', () => {
  it('hands what one turn gathered over in one call, after the turn', async () => {
    const calls: number[][] = [];
    const add = perTurn<number>((items) => calls.push(items));
    for (const n of [1, 2, 3]) add(n);
    expect(calls).toEqual([]);
    await nextTurn();
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('starts a new call for what comes in a later turn', async () => {
    const calls: string[][] = [];
    const add = perTurn<string>((items) => calls.push(items));
    add('a');
    await nextTurn();
    add('b');
    add('c');
    await nextTurn();
    expect(calls).toEqual([['a'], ['b', 'c']]);
  });

  it('keeps items added while a call is handled for the next call', async () => {
    const calls: number[][] = [];
    const add = perTurn<number>((items) => {
      calls.push(items);
      if (items[0] === 1) add(99);
    });
    add(1);
    await nextTurn();
    await nextTurn();
    expect(calls).toEqual([[1], [99]]);
  });

  it('with settle, waits for what it gathered, and gathers what comes meanwhile into the same call once it is settled too', async () => {
    const calls: number[][] = [];
    const settled: number[][] = [];
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => (commit = resolve));
    const add = perTurn<number>(
      (items) => calls.push(items),
      async (items) => {
        settled.push(items);
        if (items[0] === 1) await committed;
      },
    );
    add(1);
    await nextTurn();
    // A list PATCH: the next rows' actions come in later turns, while the first row waits for the commit.
    add(2);
    await nextTurn();
    add(3);
    await nextTurn();
    expect(calls).toEqual([]);
    commit();
    await nextTurn();
    expect(settled).toEqual([[1], [2, 3]]);
    expect(calls).toEqual([[1, 2, 3]]);
    add(4);
    await nextTurn();
    await nextTurn();
    expect(calls).toEqual([[1, 2, 3], [4]]);
    expect(settled.at(-1)).toEqual([4]);
  });
});
