import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/env.ts';
import { loadProcessorConfig } from '../../../src/processor/config.ts';

describe('processor configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadProcessorConfig({ DATABASE_URL: 'postgres://u@h:5432/d', PROCESSOR_CONSUMER: 'p1' });
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_TELEMETRY_STREAM: 'telemetry:teltonika',
      DEAD_LETTER_STREAM: 'telemetry:teltonika:dead-letter',
      PROCESSOR_BATCH_SIZE: 2000,
      METRICS_PORT: 9464,
      MAX_FUTURE_SKEW_MS: 300_000,
    });
  });

  it('derives the dead-letter stream from the telemetry stream', () => {
    const config = loadProcessorConfig({ DATABASE_URL: 'postgres://u@h/d', REDIS_TELEMETRY_STREAM: 'race:x' });
    expect(config.DEAD_LETTER_STREAM).toBe('race:x:dead-letter');
  });

  it('treats an empty variable as unset', () => {
    const config = loadProcessorConfig({ DATABASE_URL: 'postgres://u@h/d', REDIS_TELEMETRY_STREAM: '' });
    expect(config.REDIS_TELEMETRY_STREAM).toBe('telemetry:teltonika');
  });

  it.each([
    [{}, 'DATABASE_URL', /DATABASE_URL: is required/],
    [{ DATABASE_URL: 'http://x' }, 'DATABASE_URL', /DATABASE_URL: invalid value/],
    [{ DATABASE_URL: 'postgres://u@h/d', REDIS_URL: '127.0.0.1:6379' }, 'REDIS_URL', /REDIS_URL: invalid value/],
    [{ DATABASE_URL: 'postgres://u@h/d', REDIS_TELEMETRY_STREAM: 'two words' }, 'REDIS_TELEMETRY_STREAM', /REDIS_TELEMETRY_STREAM: invalid value/],
    [{ DATABASE_URL: 'postgres://u@h/d', METRICS_PORT: '70000' }, 'METRICS_PORT', /METRICS_PORT: invalid value/],
    [{ DATABASE_URL: 'postgres://u@h/d', LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /LOG_LEVEL: invalid value/],
    [{ DATABASE_URL: 'postgres://u@h/d', MAX_FUTURE_SKEW_MS: '-5' }, 'MAX_FUTURE_SKEW_MS', /MAX_FUTURE_SKEW_MS: invalid value/],
    [{ DATABASE_URL: 'postgres://u@h/d', MAX_FUTURE_SKEW_MS: '5 min' }, 'MAX_FUTURE_SKEW_MS', /MAX_FUTURE_SKEW_MS: invalid value/],
  ])('rejects %j naming %s', (env, variable, message) => {
    let error: unknown;
    try {
      loadProcessorConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(message);
  });

  it('reports every bad variable at once', () => {
    expect(() => loadProcessorConfig({ REDIS_URL: 'nope' })).toThrow(/DATABASE_URL: is required.*REDIS_URL: invalid value/);
  });
});
