import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/env.ts';
import { loadProcessorConfig } from '../../../src/processor/config.ts';

describe('PROCESSOR_STALL_MS', () => {
  it('defaults to two minutes and takes whole milliseconds', () => {
    expect(loadProcessorConfig({ DATABASE_URL: 'postgres://u@h/d' }).PROCESSOR_STALL_MS).toBe(120_000);
    expect(loadProcessorConfig({ DATABASE_URL: 'postgres://u@h/d', PROCESSOR_STALL_MS: '1500' }).PROCESSOR_STALL_MS).toBe(1500);
  });

  it.each(['0', '-1', '2 min', '1.5'])('refuses %j, naming the variable', (value) => {
    expect(() => loadProcessorConfig({ DATABASE_URL: 'postgres://u@h/d', PROCESSOR_STALL_MS: value })).toThrow(ConfigError);
    expect(() => loadProcessorConfig({ DATABASE_URL: 'postgres://u@h/d', PROCESSOR_STALL_MS: value })).toThrow(/PROCESSOR_STALL_MS: invalid value/);
  });
});
