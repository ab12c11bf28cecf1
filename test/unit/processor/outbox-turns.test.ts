import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { OutboxTurns } from '../../../src/processor/outbox-turns.ts';

describe('OutboxTurns', () => {
  it('writes in the order the turns were taken, whatever order the writes are started in', async () => {
    const turns = new OutboxTurns();
    const written: string[] = [];
    const [batch, tick, next] = [turns.take(), turns.take(), turns.take()];
    const write = (name: string, ms: number) => async () => {
      await sleep(ms);
      written.push(name);
    };
    await Promise.all([next.run(write('next', 0)), tick.run(write('tick', 0)), batch.run(write('batch', 30))]);
    expect(written).toEqual(['batch', 'tick', 'next']);
  });

  it('lets the next turn go when one is passed, but only after the turns before it', async () => {
    const turns = new OutboxTurns();
    const written: string[] = [];
    const [first, passed, last] = [turns.take(), turns.take(), turns.take()];
    passed.pass();
    const done = last.run(async () => void written.push('last'));
    await sleep(10);
    expect(written).toEqual([]);
    await first.run(async () => void written.push('first'));
    await done;
    expect(written).toEqual(['first', 'last']);
  });

  it('lets the next turn go after a write that failed', async () => {
    const turns = new OutboxTurns();
    const [failing, next] = [turns.take(), turns.take()];
    await expect(failing.run(async () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
    await expect(next.run(async () => 'written')).resolves.toBe('written');
  });
});
