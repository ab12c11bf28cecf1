import { loadExporterConfig } from '../exporter/config.ts';
import { Exporter } from '../exporter/exporter.ts';
import { runService } from './run-service.ts';

export const run = (): Promise<void> =>
  runService('exporter', loadExporterConfig(), (config, log) => new Exporter(config, log), 'writing the batch in hand, then stopping');
