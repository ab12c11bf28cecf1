import { loadGatewayConfig } from '../gateway/config.ts';
import { Gateway } from '../gateway/gateway.ts';
import { runService } from './run-service.ts';

export const run = (): Promise<void> => runService('gateway', loadGatewayConfig(), (config, log) => new Gateway(config, log), 'draining');
