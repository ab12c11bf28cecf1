import { loadExporterConfig } from '../exporter/config.ts';
import { Exporter } from '../exporter/exporter.ts';
import { createLogger } from '../observability/logger.ts';

export async function run(): Promise<void> {
  const config = loadExporterConfig();
  const log = createLogger('exporter', config.LOG_LEVEL);
  const exporter = new Exporter(config, log);
  const stop = (signal: string) => {
    log.info({ signal }, 'writing the batch in hand, then stopping');
    exporter.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (error) => log.error({ err: error }, 'unhandled rejection'));
  await exporter.start();
}
