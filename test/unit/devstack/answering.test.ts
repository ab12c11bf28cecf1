import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { answering, type DemoSettings } from '../../../src/devstack/demo-stack.ts';

/** A process as startDetached starts it, its output in <dataDir>/<name>.log. */
function started(dataDir: string, name: string, script: string): number {
  const log = openSync(join(dataDir, `${name}.log`), 'a');
  const child = spawn(process.execPath, ['-e', script], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  return child.pid!;
}

describe('answering (npm start waits for what it started)', () => {
  let dataDir: string;
  let other: Server | null = null;
  afterEach(() => {
    other?.close();
    other = null;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('fails with the end of its log when the process exits as it starts, though another answers on its port', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pitwall-up-'));
    // Another stack's process holds the port, and answers there.
    const server = createServer((_req, res) => res.end('{}'));
    other = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const pid = started(dataDir, 'jobs', "setTimeout(() => { console.error('Error: listen EADDRINUSE: address already in use'); process.exit(1); }, 500);");
    await expect(answering({ dataDir } as DemoSettings, 'jobs', pid, port)).rejects.toThrow(/jobs exited as it started; the end of .*jobs\.log:\nError: listen EADDRINUSE/);
  });

  it('is satisfied once the process it started answers on the port itself', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pitwall-up-'));
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    const pid = started(dataDir, 'exporter', `setTimeout(() => require('node:http').createServer((q, s) => { s.setHeader('x-pitwall-pid', String(process.pid)); s.end('{}'); }).listen(${port}), 700); setTimeout(() => process.exit(0), 5000);`);
    await expect(answering({ dataDir } as DemoSettings, 'exporter', pid, port)).resolves.toBeUndefined();
    process.kill(pid);
  });
});
