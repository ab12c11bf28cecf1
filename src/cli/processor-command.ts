import { loadProcessorConfig } from '../processor/config.ts';
import { Processor } from '../processor/processor.ts';
import { runService } from './run-service.ts';

export const run = (): Promise<void> => runService('processor', loadProcessorConfig(), (config, log) => new Processor(config, log));
