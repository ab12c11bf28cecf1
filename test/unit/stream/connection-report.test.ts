import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { reportConnection } from '../../../src/stream/connection-report.ts';

describe('reportConnection', () => {
  it('says once that the connection is lost and once that it is back, however many attempts fail between', () => {
    const redis = new EventEmitter();
    const said: string[] = [];
    reportConnection(redis as unknown as Redis, { warn: (error) => said.push(`lost: ${error.message}`), back: () => said.push('back') });
    redis.emit('ready');
    for (let attempt = 0; attempt < 5; attempt++) redis.emit('error', new Error('connect ECONNREFUSED'));
    redis.emit('ready');
    redis.emit('error', new Error('read ECONNRESET'));
    redis.emit('ready');
    expect(said).toEqual(['lost: connect ECONNREFUSED', 'back', 'lost: read ECONNRESET', 'back']);
  });
});
