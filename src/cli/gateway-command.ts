import { Gateway } from '../gateway/gateway.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { createLogger } from '../observability/logger.ts';

export async function run(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.LOG_LEVEL);
  const gateway = new Gateway(config, log);
  const stop = (signal: string) => {
    log.info({ signal }, 'draining');
    gateway.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (error) => log.error({ err: error }, 'unhandled rejection'));
  await gateway.start();
}
