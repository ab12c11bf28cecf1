import { loadJobsConfig } from '../jobs/jobs-config.ts';
import { JobsService } from '../jobs/jobs-service.ts';
import { runService } from './run-service.ts';

export const run = (): Promise<void> => runService('jobs', loadJobsConfig(), (config, log) => new JobsService(config, log));
