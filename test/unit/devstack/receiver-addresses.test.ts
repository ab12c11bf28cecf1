import { describe, expect, it } from 'vitest';
import { receiverAddresses } from '../../../src/devstack/demo-stack.ts';

describe('receiverAddresses', () => {
  it("hands the demo's Directus the two webhook address settings of the shell, and nothing else", () => {
    const shell = { PITWALL_WEBHOOK_ALLOW_LIST: '127.0.0.1', IMPORT_IP_DENY_LIST: '169.254.169.254', DB_PASSWORD: 'secret', SECRET: 'x' };
    expect(receiverAddresses(shell)).toEqual({ PITWALL_WEBHOOK_ALLOW_LIST: '127.0.0.1', IMPORT_IP_DENY_LIST: '169.254.169.254' });
    // An empty deny list is a choice (nothing denied), kept as given; unset is Directus's default.
    expect(receiverAddresses({ IMPORT_IP_DENY_LIST: '' })).toEqual({ IMPORT_IP_DENY_LIST: '' });
    expect(receiverAddresses({})).toEqual({});
  });
});
