import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BACKLOG_READS, BacklogPriority, mayRaise } from '../../../src/processor/backlog-priority.ts';

const silent = pino({ level: 'silent' });

/** A thread's nice value kept in memory, with every change recorded. */
function fakeThread(start = 0) {
  const changes: number[] = [];
  let nice = start;
  return {
    changes,
    thread: {
      get: () => nice,
      set: (value: number) => {
        changes.push(value);
        nice = value;
      },
    },
  };
}

describe('BacklogPriority', () => {
  it('lowers the priority after reads in a row that left entries behind, and raises it back at the first that found the end', () => {
    const { thread, changes } = fakeThread();
    const priority = new BacklogPriority(10, silent, thread, () => true);
    for (let i = 1; i < BACKLOG_READS; i += 1) priority.read(false);
    expect(changes).toEqual([]);
    priority.read(false);
    expect(changes).toEqual([10]);
    expect(priority.current).toBe(10);
    priority.read(false);
    expect(changes).toEqual([10]);
    priority.read(true);
    expect(changes).toEqual([10, 0]);
    expect(priority.current).toBe(0);
  });

  it('tells a backlog draining from the reads alone, whatever the priority (what paces the courier)', () => {
    for (const nice of [10, 0]) {
      const priority = new BacklogPriority(nice, silent, fakeThread().thread, () => true);
      for (let i = 1; i < BACKLOG_READS; i += 1) priority.read(false);
      expect(priority.draining).toBe(false);
      priority.read(false);
      expect(priority.draining).toBe(true);
      priority.read(true);
      expect(priority.draining).toBe(false);
    }
  });

  it('does not take a few full reads between live ones for a backlog', () => {
    const { thread, changes } = fakeThread();
    const priority = new BacklogPriority(10, silent, thread, () => true);
    for (let round = 0; round < 5; round += 1) {
      for (let i = 1; i < BACKLOG_READS; i += 1) priority.read(false);
      priority.read(true);
    }
    expect(changes).toEqual([]);
  });

  it('goes back to the priority it started with, not to 0', () => {
    const { thread, changes } = fakeThread(5);
    const priority = new BacklogPriority(10, silent, thread, () => true);
    for (let i = 0; i < BACKLOG_READS; i += 1) priority.read(false);
    priority.restore();
    expect(changes).toEqual([10, 5]);
  });

  it('leaves the priority alone when it could not be raised back, when set to 0, or when the process already runs lower', () => {
    for (const [nice, start, mayRaiseBack] of [
      [10, 0, false],
      [0, 0, true],
      [10, 15, true],
    ] as const) {
      const { thread, changes } = fakeThread(start);
      const priority = new BacklogPriority(nice, silent, thread, () => mayRaiseBack);
      for (let i = 0; i < BACKLOG_READS * 2; i += 1) priority.read(false);
      priority.read(true);
      expect(changes).toEqual([]);
      expect(priority.current).toBe(start);
    }
  });

  it('goes on when the system refuses the change', () => {
    const thread = {
      get: () => 0,
      set: () => {
        throw new Error('EACCES');
      },
    };
    const priority = new BacklogPriority(10, silent, thread, () => true);
    for (let i = 0; i < BACKLOG_READS; i += 1) priority.read(false);
    expect(priority.current).toBe(0);
  });

  it.runIf(process.platform === 'linux' && mayRaise(0))('changes the nice value of its own thread only, on a real thread', async () => {
    // In a worker thread of its own, so that this test's thread keeps its priority whatever happens.
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { getPriority, setPriority } = require('node:os');
       setPriority(workerData);
       parentPort.postMessage(getPriority());
       setPriority(0);
       parentPort.postMessage(getPriority());`,
      { eval: true, workerData: 10 },
    );
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (nice: number) => seen.push(nice) === 2 && resolve());
      worker.on('error', reject);
    });
    await worker.terminate();
    expect(seen).toEqual([10, 0]);
    expect(getPriority()).toBe(0);
  });
});

describe('mayRaise', () => {
  const proc = (capEff: string, maxNice: string) => (path: string) =>
    path === '/proc/self/status' ? `Name:\tnode\nCapEff:\t${capEff}\n` : `Limit Soft Limit Hard Limit Units\nMax nice priority         ${maxNice}                    ${maxNice}\n`;

  it('is true with CAP_SYS_NICE, as root has it', () => {
    expect(mayRaise(0, proc('000001ffffffffff', '0'))).toBe(true);
    expect(mayRaise(0, proc('0000000000800000', '0'))).toBe(true);
  });

  it('is false without it unless RLIMIT_NICE reaches the nice value to go back to', () => {
    expect(mayRaise(0, proc('0000000000000000', '0'))).toBe(false);
    expect(mayRaise(0, proc('00000000a80425fb', '0'))).toBe(false);
    expect(mayRaise(0, proc('0000000000000000', '20'))).toBe(true);
    expect(mayRaise(5, proc('0000000000000000', '15'))).toBe(true);
    expect(mayRaise(0, proc('0000000000000000', '15'))).toBe(false);
  });

  it('is false where /proc cannot be read', () => {
    expect(
      mayRaise(0, () => {
        throw new Error('ENOENT');
      }),
    ).toBe(false);
  });
});
