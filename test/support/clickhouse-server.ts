import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './cli.ts';

/** A private clickhouse-server for one test file: its own port, data directory and config, HTTP only. */
export interface ClickHouseServer {
  url: string;
  /**
   * Kills the process as a crash would (an orderly shutdown of 18.16 takes 8 s) and keeps the data, so start() brings
   * the same server back on the same port.
   */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections are accepted by the kernel but nothing answers until resume(). */
  pause(): void;
  resume(): void;
  /** Kills the process and deletes its directory. */
  dispose(): Promise<void>;
}

/** Debian installs the server in /usr/sbin, which is not on every user's PATH. */
function findBinary(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  return dirs.filter((dir) => dir.startsWith('/')).map((dir) => join(dir, 'clickhouse-server')).find((path) => existsSync(path));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// The root element is <yandex> because 18.16 knows no other; later servers still accept it.
const config = (root: string, port: number) => `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${root}/server.log</log><errorlog>${root}/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${port}</http_port>
  <path>${root}/data/</path>
  <tmp_path>${root}/data/tmp/</tmp_path>
  <user_files_path>${root}/data/user_files/</user_files_path>
  <format_schema_path>${root}/data/format_schemas/</format_schema_path>
  <users_config>${root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
`;

const USERS = `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`;

/** Starts a server and resolves once it answers /ping. Fails (never skips) when clickhouse-server is not installed. */
export async function startClickHouse({ timeoutMs = 30_000 } = {}): Promise<ClickHouseServer> {
  const binary = findBinary();
  if (!binary) throw new Error("clickhouse-server is not installed: run scripts/prepare.sh, which installs Debian's clickhouse-server");
  const root = await mkdtemp(join(tmpdir(), 'pitwall-clickhouse-'));
  const port = await freePort();
  await writeFile(join(root, 'config.xml'), config(root, port));
  await writeFile(join(root, 'users.xml'), USERS);
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    const server = spawn(binary, [`--config-file=${join(root, 'config.xml')}`], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr!.on('data', (chunk) => (stderr += chunk));
    child = server;
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (server.exitCode !== null || server.signalCode !== null) {
        const log = await readFile(join(root, 'server.err.log'), 'utf8').catch(() => '');
        throw new Error(`clickhouse-server exited (${server.exitCode ?? server.signalCode}) before answering:\n${stderr}${log.slice(-2000)}`);
      }
      const answer = await fetch(`${url}/ping`).then((response) => response.text(), () => '');
      if (answer.startsWith('Ok.')) return;
      await sleep(100);
    }
    await stopChild(server, 'SIGKILL');
    throw new Error(`clickhouse-server did not answer on ${url} within ${timeoutMs} ms:\n${stderr}`);
  };
  const kill = async () => {
    if (!child) return;
    await stopChild(child, 'SIGKILL');
    child = undefined;
  };

  try {
    await start();
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    start,
    kill,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    dispose: async () => {
      await kill();
      await rm(root, { recursive: true, force: true });
    },
  };
}
