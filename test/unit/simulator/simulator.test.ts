import { lineIntersect, lineString, pointToLineDistance, point } from '@turf/turf';
import { describe, expect, it } from 'vitest';
import { gateAcross, pointAlong, roadLengthKm, stageCourses } from '../../../src/demo/course.ts';
import { demoEntries, demoImei } from '../../../src/demo/demo-race.ts';
import { parseStreamEntry } from '../../../src/domain/parse-stream-entry.ts';
import { toStreamFields } from '../../../src/simulator/publish.ts';
import { deliveryOrder, simulateRace } from '../../../src/simulator/race-schedule.ts';
import { toUnsigned } from '../../../src/simulator/raw-io.ts';

const start = Date.parse('2026-03-01T08:00:00.000Z');

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

describe('demo trackers', () => {
  it('have distinct 15-digit IMEIs with a valid Luhn check digit', () => {
    const imeis = demoEntries.map((e) => e.imei);
    expect(new Set(imeis).size).toBe(20);
    for (const imei of imeis) {
      expect(imei).toMatch(/^\d{15}$/);
      expect(luhnValid(imei), imei).toBe(true);
    }
    expect(demoImei(1)).toBe(demoEntries[0]!.imei);
  });
});

describe('toUnsigned', () => {
  it.each([
    [-1, 2, 65535],
    [-980, 2, 64556],
    [-52, 4, 4294967244],
    [0, 1, 0],
    [285, 4, 285],
  ])('encodes %d on %d bytes as %d, like the tracker', (value, bytes, raw) => {
    expect(toUnsigned(value, bytes)).toBe(raw);
  });
});

describe('simulateRace', () => {
  const fixes = simulateRace({ start, entries: 3, stages: ['ss1'] });

  it('is the same for the same seed and different for another', () => {
    expect(simulateRace({ start, entries: 3, stages: ['ss1'] })).toEqual(fixes);
    expect(simulateRace({ start, entries: 3, stages: ['ss1'], seed: 2 })).not.toEqual(fixes);
  });

  it('sends one fix per second per device, in time order, with millisecond timestamps', () => {
    for (const entry of demoEntries.slice(0, 3)) {
      const own = fixes.filter((f) => f.deviceId === entry.imei);
      expect(own.length).toBeGreaterThan(300);
      for (let i = 1; i < own.length; i++) expect(own[i]!.ts - own[i - 1]!.ts).toBe(1000);
    }
    for (let i = 1; i < fixes.length; i++) expect(fixes[i]!.ts).toBeGreaterThanOrEqual(fixes[i - 1]!.ts);
    expect(new Set(fixes.map((f) => f.ts % 1000)).size).toBeGreaterThan(1);
  });

  it('drives through the start and finish gates of the stage', () => {
    const course = stageCourses[0]!;
    const own = fixes.filter((f) => f.deviceId === demoEntries[0]!.imei);
    const track = lineString(own.map((f) => [f.longitude, f.latitude]));
    for (const km of [course.startAtKm, ...course.splitsAtKm, roadLengthKm(course) - course.finishBeforeEndKm]) {
      expect(lineIntersect(track, gateAcross(course, km).line).features, `gate at ${km} km`).toHaveLength(1);
    }
  });

  it('lets #113 miss WP2 while the others pass within its tolerance', () => {
    const race = simulateRace({ start, entries: 13, stages: ['ss1'] });
    const wp2 = stageCourses[0]!.waypointsAtKm[1]!;
    const location = pointAlong(stageCourses[0]!, wp2.km);
    const closest = (imei: string) => {
      const track = lineString(race.filter((f) => f.deviceId === imei).map((f) => [f.longitude, f.latitude]));
      return pointToLineDistance(location, track, { units: 'meters' });
    };
    expect(closest(demoEntries[12]!.imei)).toBeGreaterThan(wp2.toleranceMeters);
    expect(closest(demoEntries[0]!.imei)).toBeLessThan(wp2.toleranceMeters);
  });

  it('has #104 speeding through the village while #101 keeps the limit', () => {
    const race = simulateRace({ start, entries: 4, stages: ['ss1'] });
    const zone = stageCourses[0]!.speedZone!;
    const middle = pointAlong(stageCourses[0]!, (zone.fromKm + zone.toKm) / 2);
    const speedAtMiddle = (imei: string) => {
      const own = race.filter((f) => f.deviceId === imei);
      const nearest = own.reduce((best, f) => (pointToLineDistance(point([f.longitude, f.latitude]), lineString([middle.geometry.coordinates, middle.geometry.coordinates.map((c) => c + 1e-9)])) < pointToLineDistance(point([best.longitude, best.latitude]), lineString([middle.geometry.coordinates, middle.geometry.coordinates.map((c) => c + 1e-9)])) ? f : best));
      return nearest.speed;
    };
    expect(speedAtMiddle(demoEntries[3]!.imei)).toBeGreaterThan(zone.limitKmh + 10);
    expect(speedAtMiddle(demoEntries[0]!.imei)).toBeLessThanOrEqual(zone.limitKmh);
  });

  it('writes entries the processor accepts, with raw IO needing the mapping', () => {
    for (const fix of fixes.slice(0, 50)) {
      const [, ts, , deviceId, , codec, , payload] = toStreamFields(fix);
      const parsed = parseStreamEntry({ ts: ts!, device_id: deviceId!, codec: codec!, payload: payload! });
      expect(parsed).toEqual({ ok: true, position: fix });
    }
    const attributes = fixes[100]!.attributes;
    expect(attributes['16']).toEqual({ __bigint: expect.stringMatching(/^\d+$/) });
    expect(attributes['78']).toEqual({ __buffer_b64: expect.any(String) });
    expect(attributes['19']).toBeGreaterThan(60000); // axis Z around -1000 mG, as its 16-bit two's complement
  });
});

describe('deliveryOrder', () => {
  const fixes = simulateRace({ start, entries: 3, stages: ['ss2'] });
  const key = (f: { deviceId: string; ts: number }) => `${f.deviceId}@${f.ts}`;

  it('with no disorder is the GPS-time order', () => {
    expect(deliveryOrder(fixes)).toEqual(fixes);
  });

  it('adds duplicates without losing any fix', () => {
    const order = deliveryOrder(fixes, { duplicates: 0.05 });
    expect(order.length).toBeGreaterThan(fixes.length);
    expect(new Set(order.map(key))).toEqual(new Set(fixes.map(key)));
  });

  it('swaps some fixes of a device with the next one, keeping the same set', () => {
    const order = deliveryOrder(fixes, { outOfOrder: 0.05 });
    expect(order).toHaveLength(fixes.length);
    expect(new Set(order.map(key))).toEqual(new Set(fixes.map(key)));
    let inversions = 0;
    const last = new Map<string, number>();
    for (const f of order) {
      if ((last.get(f.deviceId) ?? 0) > f.ts) inversions++;
      last.set(f.deviceId, Math.max(last.get(f.deviceId) ?? 0, f.ts));
    }
    expect(inversions).toBeGreaterThan(5);
  });

  it('holds back one device for the late burst and releases its fixes together, after newer ones', () => {
    const order = deliveryOrder(fixes, { lateBurstSeconds: 60 });
    expect(order).toHaveLength(fixes.length);
    const firstLate = order.findIndex((f, i) => i > 0 && f.ts < order[i - 1]!.ts - 30_000);
    expect(firstLate).toBeGreaterThan(0);
    const burst = order.slice(firstLate, firstLate + 60);
    expect(new Set(burst.map((f) => f.deviceId)).size).toBe(1);
  });

  it('does not mutate the fixes it is given', () => {
    const copy = structuredClone(fixes);
    deliveryOrder(fixes, { duplicates: 0.1, outOfOrder: 0.1, lateBurstSeconds: 30 });
    expect(fixes).toEqual(copy);
  });
});
