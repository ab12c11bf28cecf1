import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../src/devstack/directus-process.ts';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return false;
}

/**
 * A starter that starts a server-like child the way startDirectus starts a Directus it does not leave running (the
 * preload, stdin a pipe from the starter), prints the child's pid and then waits for ever. The child answers SIGTERM
 * by writing `marker` before it exits, as Directus shuts down on SIGTERM.
 */
function starter(lifeline: boolean, marker: string): Promise<{ starter: number; child: number }> {
  const preload = join(repoRoot, 'src/devstack/exit-with-parent.cjs');
  const server = `process.on('SIGTERM', () => { require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'SIGTERM'); process.exit(0); }); setInterval(() => {}, 1000);`;
  const script = `
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, [${lifeline ? `'--require', ${JSON.stringify(preload)}, ` : ''}'-e', ${JSON.stringify(server)}], { stdio: ['pipe', 'ignore', 'ignore'] });
    console.log(child.pid);
    setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  return new Promise((resolve, reject) => {
    parent.stdout.once('data', (chunk: Buffer) => resolve({ starter: parent.pid!, child: Number(chunk.toString().trim()) }));
    parent.once('exit', (code) => reject(new Error(`the starter exited with ${code}`)));
  });
}

describe('exit-with-parent (a test Directus ends with the process that started it)', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pitwall-lifeline-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('shuts the child down with SIGTERM once its starter is killed with SIGKILL', async () => {
    const marker = join(dir, 'terminated');
    const { starter: pid, child } = await starter(true, marker);
    await sleep(300); // the child has loaded the preload
    process.kill(pid, 'SIGKILL');
    expect(await exited(child, 5000)).toBe(true);
    expect(existsSync(marker)).toBe(true);
  });

  it('is what ends it: without the preload, the child outlives its killed starter', async () => {
    const { starter: pid, child } = await starter(false, join(dir, 'terminated'));
    await sleep(300);
    process.kill(pid, 'SIGKILL');
    try {
      expect(await exited(child, 1000)).toBe(false);
    } finally {
      process.kill(child, 'SIGKILL');
    }
  });
});
