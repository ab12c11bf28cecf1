import { stageCourses } from '../demo/course.ts';
import { demoEntries } from '../demo/demo-race.ts';
import type { Position } from '../domain/position.ts';
import { seededRandom } from './random.ts';
import { driverProfile, simulateStageRun } from './track.ts';

export interface ScheduleOptions {
  start: number;
  entries?: number;
  stages?: ('ss1' | 'ss2')[];
  /** Seconds between two cars leaving the start control. */
  intervalSeconds?: number;
  /** Seconds between a car's finish of one stage and its departure on the next. */
  liaisonSeconds?: number;
  seed?: number;
}

/** Every fix of the demo race, all devices merged in GPS-time order. */
export function simulateRace(options: ScheduleOptions): Position[] {
  const { start, entries = demoEntries.length, stages = ['ss1', 'ss2'], intervalSeconds = 30, liaisonSeconds = 600, seed = 1 } = options;
  const fixes: Position[] = [];
  demoEntries.slice(0, entries).forEach((entry, index) => {
    const random = seededRandom(seed * 1000 + entry.raceNumber);
    const profile = driverProfile(entry, random);
    const io = {
      odometerM: 48_000_000n + BigInt(Math.floor(random() * 9_000_000)),
      tripM: 0,
      temperatureTenths: Math.round(240 + random() * 80),
      iccid: 8_921_201_000_000_000_000n + BigInt(entry.raceNumber),
      ibutton: Buffer.from([0x01, 0x9a, 0x3f, 0x21, 0x00, 0x00, 0x00, entry.raceNumber & 0xff]),
    };
    let departAt = start + index * intervalSeconds * 1000;
    for (const course of stageCourses.filter((c) => stages.includes(c.key))) {
      const run = simulateStageRun({ course, entry, departAt, profile, io, random });
      fixes.push(...run);
      departAt = run[run.length - 1]!.ts + liaisonSeconds * 1000;
    }
  });
  return fixes.sort((a, b) => a.ts - b.ts || a.deviceId.localeCompare(b.deviceId));
}

export interface Disorder {
  /** Share of fixes sent twice, as a tracker does when an ack is lost. */
  duplicates?: number;
  /** Share of fixes swapped with the device's next fix. */
  outOfOrder?: number;
  /** One device out of coverage this long: its fixes of that window arrive together at the end of it. */
  lateBurstSeconds?: number;
  seed?: number;
}

/**
 * The order in which the ingestion service would write the fixes, with the faults real trackers produce.
 * Pure: the same fixes and options give the same order.
 */
export function deliveryOrder(fixes: readonly Position[], disorder: Disorder = {}): Position[] {
  const { duplicates = 0, outOfOrder = 0, lateBurstSeconds = 0, seed = 7 } = disorder;
  const random = seededRandom(seed);
  let order = [...fixes];

  if (lateBurstSeconds > 0 && order.length > 0) {
    const device = order[Math.floor(order.length / 3)]!.deviceId;
    const own = order.filter((f) => f.deviceId === device);
    const from = own[Math.floor(own.length / 4)]!.ts;
    const to = from + lateBurstSeconds * 1000;
    const held = order.filter((f) => f.deviceId === device && f.ts >= from && f.ts < to);
    const rest = order.filter((f) => !(f.deviceId === device && f.ts >= from && f.ts < to));
    const releaseAt = rest.findIndex((f) => f.ts >= to);
    order = releaseAt < 0 ? [...rest, ...held] : [...rest.slice(0, releaseAt), ...held, ...rest.slice(releaseAt)];
  }

  if (outOfOrder > 0) {
    const nextOfDevice = new Map<string, number>();
    for (let i = order.length - 1; i >= 0; i--) {
      const fix = order[i]!;
      const next = nextOfDevice.get(fix.deviceId);
      nextOfDevice.set(fix.deviceId, i);
      if (next !== undefined && random() < outOfOrder) {
        order[i] = order[next]!;
        order[next] = fix;
        nextOfDevice.set(fix.deviceId, next);
      }
    }
  }

  if (duplicates > 0) {
    order = order.flatMap((fix) => (random() < duplicates ? [fix, fix] : [fix]));
  }
  return order;
}
