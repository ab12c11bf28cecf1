import { createLogger, type Logger } from '../observability/logger.ts';

interface Service {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs a long-lived process the same way for every command: its logger, start, and on SIGTERM or SIGINT a logged
 * `stopping` (what the service does before it exits), then its close and the exit code.
 */
export async function runService<C extends { LOG_LEVEL: string }>(
  name: string,
  config: C,
  create: (config: C, log: Logger) => Service,
  stopping = 'stopping',
): Promise<void> {
  const log = createLogger(name, config.LOG_LEVEL);
  const service = create(config, log);
  const stop = (signal: string) => {
    log.info({ signal }, stopping);
    service.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (error) => log.error({ err: error }, 'unhandled rejection'));
  await service.start();
}
