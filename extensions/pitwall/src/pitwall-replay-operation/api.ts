import { defineOperationApi } from '@directus/extensions-sdk';
import { runOperation, type RunOperationOptions } from '../shared/run-operation';

/** Queues a replay run (the job runner works on it); see run-operation.ts for waiting and errors. */
export default defineOperationApi<RunOperationOptions>({
  id: 'pitwall-replay',
  handler: (options, { services, database, getSchema, accountability }) =>
    runOperation('replay', options, { services, database, getSchema, accountability: accountability ?? null }),
});
