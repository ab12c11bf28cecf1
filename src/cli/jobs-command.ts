import { loadJobsConfig } from '../jobs/jobs-config.ts';
import { JobsService } from '../jobs/jobs-service.ts';
import { createLogger } from '../observability/logger.ts';

export async function run(): Promise<void> {
  const config = loadJobsConfig();
  const log = createLogger('jobs', config.LOG_LEVEL);
  const service = new JobsService(config, log);
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    service.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (error) => log.error({ err: error }, 'unhandled rejection'));
  await service.start();
}
