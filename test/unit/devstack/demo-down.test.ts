import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { demoDown, runningPid, type DemoSettings } from '../../../src/devstack/demo-stack.ts';

/** A service as `pitwall up` starts it: a process-group leader whose pid is in <dataDir>/<name>.pid. */
function service(dataDir: string, name: string, script: string): number {
  const child = spawn(process.execPath, ['-e', script], { detached: true, stdio: 'ignore' });
  child.unref();
  writeFileSync(join(dataDir, `${name}.pid`), String(child.pid));
  return child.pid!;
}

describe('demoDown (npm stop)', () => {
  let dataDir: string;
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('says a service stopped only once it is gone, and kills one that outlives the wait', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pitwall-down-'));
    const settings = { dataDir } as DemoSettings;
    // The processor stops on SIGTERM after a moment; "Directus" ignores it, as one whose pool waits for a stalled import.
    const processor = service(dataDir, 'processor', "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 300)); setInterval(() => {}, 1000);");
    const directus = service(dataDir, 'directus', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const said: string[] = [];
    await demoDown(settings, (line) => said.push(line), 1_500);
    expect(said).toEqual([`stopped processor (pid ${processor})`, `killed directus (pid ${directus}): it had not stopped 1.5 s after SIGTERM`]);
    expect(runningPid(settings, 'processor')).toBeNull();
    // SIGKILL is delivered at once, but the kernel takes a moment to remove the process.
    for (let i = 0; i < 50 && runningPid(settings, 'directus') !== null; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runningPid(settings, 'directus')).toBeNull();
  });
});
