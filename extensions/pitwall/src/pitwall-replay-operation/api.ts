import { defineOperationApi } from '@directus/extensions-sdk';

interface ReplayOptions {
  event?: string;
  mode?: 'preview' | 'apply';
  from?: string;
  to?: string;
}

export class ReplayUnavailableError extends Error {
  override name = 'ReplayUnavailableError';
}

export default defineOperationApi<ReplayOptions>({
  id: 'pitwall-replay',
  // The replay engine lands with its own issue; until then a Flow reaching this step takes its reject path
  // with a message saying so, rather than pretending to have replayed anything.
  handler: () => {
    throw new ReplayUnavailableError('Pitwall replay is not available in this version of the bundle');
  },
});
