import { createLogger, type Logger } from '../observability/logger.ts';

interface Service {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs a long-lived process the same way for every command: its logger, start, and on SIGTERM or SIGINT a logged
 * `stopping` (what the service does before it exits), then its close and the exit code. A service that cannot start
 * (its metrics port taken) exits with 1 after closing what it opened: the connections it holds would otherwise keep
 * a process alive that does no work, holding a consumer name and no shard, where a supervisor expects it to fail.
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
  try {
    await service.start();
  } catch (error) {
    log.fatal({ err: error }, `${name} could not start`);
    await service.close().catch((closing: unknown) => log.warn({ err: closing }, 'closing after the failed start failed'));
    process.exit(1);
  }
}
