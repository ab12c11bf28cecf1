import { createLogger } from '../observability/logger.ts';
import { loadProcessorConfig } from '../processor/config.ts';
import { Processor } from '../processor/processor.ts';

export async function run(): Promise<void> {
  const config = loadProcessorConfig();
  const log = createLogger('processor', config.LOG_LEVEL);
  const processor = new Processor(config, log);
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    processor.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (error) => log.error({ err: error }, 'unhandled rejection'));
  await processor.start();
}
