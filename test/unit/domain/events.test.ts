import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../src/devstack/directus-process.ts';
import { catalogue, raceEventEnvelope } from '../../../src/domain/events/catalogue.ts';
import { renderEventDocs } from '../../../src/domain/events/render-event-docs.ts';

const id = '0b6f5c1e-4d3a-4b2c-9e8f-7a6b5c4d3e2f';

describe('race event catalogue v1', () => {
  it('has exactly the types of CONTRACTS section 4, each at version 1', () => {
    expect(Object.keys(catalogue).sort()).toEqual([
      'anomaly.detected',
      'backfill.completed',
      'io_mapping.changed',
      'replay.completed',
      'stage.result.computed',
      'timing.crossing.recorded',
    ]);
    for (const entry of Object.values(catalogue)) expect(entry.version).toBe(1);
  });

  it('accepts a crossing payload with the contract fields and refuses one without the time', () => {
    const payload = { crossing: id, entry: id, race_number: 104, stage: id, geofence: id, kind: 'finish', crossed_at: '2026-11-28T10:15:42.317Z', device_id: '350936080010042', speed_kmh: 88.5 };
    expect(catalogue['timing.crossing.recorded'].payload.parse(payload)).toEqual(payload);
    const { crossed_at: _missing, ...incomplete } = payload;
    const result = catalogue['timing.crossing.recorded'].payload.safeParse(incomplete);
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual(['crossed_at']);
  });

  it('refuses an envelope of an unknown type or source', () => {
    const envelope = { id, type: 'anomaly.detected', version: 1, occurred_at: '2026-11-28T10:15:42.317Z', source: 'live', event: id, entry: null, device_id: '350936080010042', payload: {} };
    expect(raceEventEnvelope.safeParse(envelope).success).toBe(true);
    expect(raceEventEnvelope.safeParse({ ...envelope, type: 'anomaly.found' }).success).toBe(false);
    expect(raceEventEnvelope.safeParse({ ...envelope, source: 'manual' }).success).toBe(false);
  });

  it('docs/events.md is what the generator writes (run `npm run docs` after changing the catalogue)', () => {
    expect(readFileSync(join(repoRoot, 'docs/events.md'), 'utf8')).toBe(renderEventDocs());
  });
});
