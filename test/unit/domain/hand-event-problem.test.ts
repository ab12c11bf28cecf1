import { describe, expect, it } from 'vitest';
import { handEventProblem } from '../../../src/domain/events/hand-event-problem.ts';

const test = { type: 'anomaly.detected', version: 1, occurred_at: '2026-12-06T20:00:00.000Z', source: 'live', payload: { kind: 'signal_loss' } };

describe('handEventProblem (race events written by people)', () => {
  it('takes a catalogue type with a partial payload, as a test event for a Flow', () => {
    expect(handEventProblem(test)).toBeNull();
    expect(handEventProblem({ ...test, payload: '{"kind":"missed_waypoint"}' })).toBeNull();
    expect(handEventProblem({ type: 'io_mapping.changed' })).toBeNull();
  });

  it('refuses a type outside the catalogue, naming it and the catalogue', () => {
    for (const type of ['bogus.type', 'anomaly.Detected', '', undefined, 1, 'toString', '__proto__']) {
      const problem = handEventProblem({ ...test, type });
      expect(problem?.field, String(type)).toBe('type');
    }
    expect(handEventProblem({ ...test, type: 'bogus.type' })?.message).toMatch(/^expected one of the catalogue's types \(timing\.crossing\.recorded, .*\), got "bogus\.type"$/);
  });

  it('refuses a source, a version or a payload that no receiver can read', () => {
    expect(handEventProblem({ ...test, source: 'manual' })?.field).toBe('source');
    expect(handEventProblem({ ...test, version: 2 })).toEqual({ field: 'version', message: 'anomaly.detected is at version 1 of the catalogue, got 2' });
    for (const payload of [null, [], 'text', '[1]', 42]) expect(handEventProblem({ ...test, payload })?.field, JSON.stringify(payload)).toBe('payload');
  });

  it('refuses a NUL or a lone surrogate anywhere in the payload, which the webhook chains cannot store', () => {
    const nul = { field: 'payload', message: 'must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates, which no webhook delivery can carry' };
    expect(handEventProblem({ ...test, payload: { note: 'nul\u0000here' } })).toEqual(nul);
    expect(handEventProblem({ ...test, payload: { deep: [{ ['k\u0000']: 1 }] } })).toEqual(nul);
    expect(handEventProblem({ ...test, payload: '{"note":"a\\u0000b"}' })).toEqual(nul);
    expect(handEventProblem({ ...test, payload: { note: 'a\\u0000 written out' } })).toBeNull();
    expect(handEventProblem({ ...test, payload: { k: '\ud800' } })).toEqual(nul);
    expect(handEventProblem({ ...test, payload: { k: 'x\udc00' } })).toEqual(nul);
    expect(handEventProblem({ ...test, payload: { k: '🚗 paired \ud83d\ude97' } })).toBeNull();
  });
});
