import { ConfigError } from '../config/env.ts';

const commands: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number | void> }> }> = {
  setup: { summary: 'migrate telemetry tables, provision Directus schema, processor role and token, demo race', load: () => import('./setup-command.ts') },
  migrate: { summary: 'create or update the telemetry tables (positions, decoded_attributes)', load: () => import('./migrate-command.ts') },
  processor: { summary: 'run the stream processor (consumer group "processor")', load: () => import('./processor-command.ts') },
  gateway: { summary: 'run the live WebSocket gateway (consumer group "live-broadcast-<INSTANCE_ID>")', load: () => import('./gateway-command.ts') },
  exporter: { summary: 'run the analytics exporter: Parquet files (and ClickHouse) from the stream (consumer group "analytics-export")', load: () => import('./exporter-command.ts') },
  'query-export': { summary: 'query the analytics export with DuckDB SQL (views: positions, crews, stages, stage_runs)', load: () => import('./query-export-command.ts') },
  up: { summary: 'bring up the demo stack: Directus with the bundle, setup with the demo race, processor, simulator', load: async () => ({ run: (await import('./stack-command.ts')).up }) },
  down: { summary: 'stop the demo stack started by "pitwall up"', load: async () => ({ run: (await import('./stack-command.ts')).down }) },
  jobs: { summary: 'run replay and backfill runs queued in Directus (the job runner)', load: () => import('./jobs-command.ts') },
  replay: { summary: 'replay stored positions through the timing pipeline now (preview or apply), with progress', load: async () => ({ run: (await import('./run-command.ts')).runCommand('replay') }) },
  backfill: { summary: 'decode stored raw IO again with the current IO mapping now, with progress', load: async () => ({ run: (await import('./run-command.ts')).runCommand('backfill') }) },
  simulate: { summary: 'write simulated 1 Hz tracker tracks of the demo entries to the telemetry stream', load: () => import('./simulate-command.ts') },
  outbox: { summary: 'list the fact batches waiting for Directus (parked ones with their reason), redrive parked ones', load: () => import('./outbox-command.ts') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return ['usage: pitwall <command> [options]', '', ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`pitwall: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return (await module.run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`pitwall: invalid configuration: ${error.message}`);
      process.exitCode = 78; // EX_CONFIG
      return;
    }
    console.error(error);
    process.exitCode = 1;
  },
);
