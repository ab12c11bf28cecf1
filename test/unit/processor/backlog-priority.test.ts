import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BACKLOG_READS, BacklogPriority, mayRaise, ownAutogroup } from '../../../src/processor/backlog-priority.ts';

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
    const priority = new BacklogPriority(10, silent, thread, () => true, null);
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
      const priority = new BacklogPriority(nice, silent, fakeThread().thread, () => true, null);
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
    const priority = new BacklogPriority(10, silent, thread, () => true, null);
    for (let round = 0; round < 5; round += 1) {
      for (let i = 1; i < BACKLOG_READS; i += 1) priority.read(false);
      priority.read(true);
    }
    expect(changes).toEqual([]);
  });

  it('goes back to the priority it started with, not to 0', () => {
    const { thread, changes } = fakeThread(5);
    const priority = new BacklogPriority(10, silent, thread, () => true, null);
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
      const priority = new BacklogPriority(nice, silent, thread, () => mayRaiseBack, null);
      for (let i = 0; i < BACKLOG_READS * 2; i += 1) priority.read(false);
      priority.read(true);
      expect(changes).toEqual([]);
      expect(priority.current).toBe(start);
    }
  });

  it('lowers its own autogroup too, and raises it back even without CAP_SYS_NICE', () => {
    const thread = fakeThread();
    const group = fakeThread();
    const priority = new BacklogPriority(10, silent, thread.thread, () => false, group.thread);
    for (let i = 0; i < BACKLOG_READS; i += 1) priority.read(false);
    expect(priority.current).toBe(10);
    priority.read(true);
    expect(thread.changes).toEqual([]);
    expect(group.changes).toEqual([10, 0]);
    expect(priority.current).toBe(0);
  });

  it('moves both when it may: the thread against its session, the autogroup against the others', () => {
    const thread = fakeThread();
    const group = fakeThread();
    const priority = new BacklogPriority(10, silent, thread.thread, () => true, group.thread);
    for (let i = 0; i < BACKLOG_READS; i += 1) priority.read(false);
    priority.restore();
    expect(thread.changes).toEqual([10, 0]);
    expect(group.changes).toEqual([10, 0]);
  });

  it('tries the autogroup again at the next read when Linux refuses a change for now (EAGAIN), and drops a lever refused for good', () => {
    const changes: number[] = [];
    let refusals = 1;
    const group = {
      get: () => 0,
      set: (nice: number) => {
        if (nice === 0 && refusals-- > 0) throw Object.assign(new Error('Resource temporarily unavailable'), { code: 'EAGAIN' });
        changes.push(nice);
      },
    };
    const priority = new BacklogPriority(10, silent, fakeThread().thread, () => false, group);
    for (let i = 0; i < BACKLOG_READS; i += 1) priority.read(false);
    priority.read(true);
    expect(changes).toEqual([10]);
    expect(priority.current).toBe(10);
    priority.read(true);
    expect(changes).toEqual([10, 0]);
    expect(priority.current).toBe(0);

    const refused = {
      get: () => 0,
      set: () => {
        throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
      },
    };
    const once = new BacklogPriority(10, silent, fakeThread().thread, () => false, refused);
    for (let i = 0; i < BACKLOG_READS * 2; i += 1) once.read(false);
    expect(once.current).toBe(0);
  });

  it('goes on when the system refuses the change', () => {
    const thread = {
      get: () => 0,
      set: () => {
        throw new Error('EACCES');
      },
    };
    const priority = new BacklogPriority(10, silent, thread, () => true, null);
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

describe('ownAutogroup', () => {
  /** /proc as a process with pid 4242 in session `session` sees it, autogroups on or off. */
  const proc = (session: number, enabled = '1') => {
    const written: [string, string][] = [];
    const read = (path: string) => {
      if (path === '/proc/sys/kernel/sched_autogroup_enabled') return `${enabled}\n`;
      if (path === '/proc/self/stat') return `4242 (node (x) y) S 1 4242 ${session} 0 -1 4194560 0`;
      if (path === '/proc/self/autogroup') return '/autogroup-85 nice 3\n';
      throw new Error(`ENOENT ${path}`);
    };
    return { written, read, write: (path: string, text: string) => void written.push([path, text]) };
  };

  it("is the session leader's own autogroup: its nice value read and written in /proc", () => {
    const { read, write, written } = proc(4242);
    const group = ownAutogroup(read, write)!;
    expect(group.get()).toBe(3);
    group.set(10);
    expect(written).toEqual([['/proc/self/autogroup', '10']]);
  });

  it('is null for a process that shares its session (a shell, a test runner), with autogroups off, or without /proc', () => {
    expect(ownAutogroup(proc(4000).read, proc(4000).write)).toBeNull();
    expect(ownAutogroup(proc(4242, '0').read, proc(4242, '0').write)).toBeNull();
    expect(
      ownAutogroup(
        () => {
          throw new Error('ENOENT');
        },
        () => undefined,
      ),
    ).toBeNull();
  });

  const autogroups = process.platform === 'linux' && (() => {
    try {
      return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
    } catch {
      return false;
    }
  })();

  it.runIf(autogroups)('lowers and raises a real session leader\'s autogroup, and leaves a process without its own session alone', () => {
    const script = `import { ownAutogroup } from ${JSON.stringify(new URL('../../../src/processor/backlog-priority.ts', import.meta.url).href)};
      const group = ownAutogroup();
      const seen = [];
      if (group) { seen.push(group.get()); group.set(10); seen.push(group.get()); await new Promise((r) => setTimeout(r, 150)); group.set(0); seen.push(group.get()); }
      console.log(JSON.stringify(group ? seen : null));`;
    const run = (leader: boolean) => {
      // setsid(1) makes the child lead a session of its own, as a service manager or \`npm start\` does.
      const command = leader ? ['setsid', '--wait', process.execPath] : [process.execPath];
      const child = spawnSync(command[0]!, [...command.slice(1), '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(child.stderr).toBe('');
      return JSON.parse(child.stdout) as number[] | null;
    };
    expect(run(true)).toEqual([0, 10, 0]);
    expect(run(false)).toBeNull();
  });
});
