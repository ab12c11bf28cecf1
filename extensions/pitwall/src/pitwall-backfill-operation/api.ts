import { defineOperationApi } from '@directus/extensions-sdk';
import { runOperation, type RunOperationOptions } from '../shared/run-operation';

/** Queues a backfill run of decoded attributes (the job runner works on it). */
export default defineOperationApi<RunOperationOptions>({
  id: 'pitwall-backfill',
  handler: (options, { services, database, getSchema, accountability }) =>
    runOperation('backfill', options, { services, database, getSchema, accountability: accountability ?? null }),
});
