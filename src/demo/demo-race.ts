import { v5 as uuidv5 } from 'uuid';
import { corridor, gateAcross, pointAlong, roadLengthKm, stageCourses } from './course.ts';
import { fmb920IoMapping } from './fmb920-io.ts';

/** Demo ids are derived from names, so seeding twice finds what the first run created. */
const NAMESPACE = '6f1d2c3e-4b5a-4c6d-8e7f-901a2b3c4d5e';
export const demoId = (name: string): string => uuidv5(`pitwall-demo:${name}`, NAMESPACE);

export const DEMO_ENTRY_COUNT = 20;

const crews = [
  'Laurent / Petit', 'Al-Rajhi / Gottschalk', 'Moreau / Garcia', 'Ekström / Bergkvist', 'Serradori / Minaudier',
  'Baragwanath / Cremer', 'Yacopini / Oriol', 'Lategan / Cummings', 'Quintero / Zenz', 'Prokop / Chytka',
  'Variawa / Lurquin', 'Vasilyev / Uperenko', 'Gutiérrez / Merino', 'Cavigliasso / Pertegarini', 'Ferreira / Palmeiro',
  'Dumas / Delfino', 'Chicherit / Winocq', 'Terranova / Alonso', 'Roma / Haro', 'Bouhalim / Lahrech',
];

/** A 15-digit IMEI: TAC of a Teltonika FMB920 batch, a serial, and the Luhn check digit trackers really carry. */
export function demoImei(index: number): string {
  const body = `35093608${String(1000 + index).padStart(6, '0')}`;
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let digit = Number(body[i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return body + String((10 - (sum % 10)) % 10);
}

export interface DemoEntry {
  id: string;
  raceNumber: number;
  name: string;
  imei: string;
  deviceId: string;
}

export const demoEntries: DemoEntry[] = crews.slice(0, DEMO_ENTRY_COUNT).map((name, i) => ({
  id: demoId(`entry:${101 + i}`),
  raceNumber: 101 + i,
  name,
  imei: demoImei(i + 1),
  deviceId: demoId(`device:${i + 1}`),
}));

export type DemoItems = Record<string, Record<string, unknown>[]>;

/**
 * Every item of the demo race, by collection, in the order they must be created. `now` only places the event
 * window (the day of the first setup and the week after), so that the simulator's live fixes fall inside it.
 */
export function demoRaceItems(now: Date): DemoItems {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const iso = (ms: number) => new Date(ms).toISOString();
  const week = 7 * 24 * 3600 * 1000;
  const eventId = demoId('event');
  const modelId = demoId('model:FMB920');

  const stages = stageCourses.map((course, i) => ({
    id: demoId(`stage:${course.key}`),
    event: eventId,
    name: course.name,
    sort_order: i + 1,
    opens_at: iso(day),
    closes_at: iso(day + week),
  }));

  const geofences = stageCourses.flatMap((course) => {
    const stage = demoId(`stage:${course.key}`);
    const total = roadLengthKm(course);
    const gate = (key: string, name: string, kind: string, km: number, sort: number | null) => {
      const { line, directionDeg } = gateAcross(course, km);
      return { id: demoId(`geofence:${course.key}:${key}`), event: eventId, stage, name, kind, geometry: line.geometry, direction_deg: directionDeg, sort_order: sort, speed_limit_kmh: null };
    };
    const items = [
      gate('start', `${course.key.toUpperCase()} start`, 'start_line', course.startAtKm, null),
      ...course.splitsAtKm.map((km, i) => gate(`split${i + 1}`, `${course.key.toUpperCase()} split ${i + 1}`, 'split_line', km, i + 1)),
      gate('finish', `${course.key.toUpperCase()} finish`, 'finish_line', total - course.finishBeforeEndKm, null),
    ];
    if (course.speedZone) {
      const zone = course.speedZone;
      items.push({
        id: demoId(`geofence:${course.key}:speed`),
        event: eventId,
        stage,
        name: zone.name,
        kind: 'speed_zone',
        geometry: corridor(course, zone.fromKm, zone.toKm).geometry as never,
        direction_deg: null as never,
        sort_order: null,
        speed_limit_kmh: zone.limitKmh as never,
      });
    }
    return items;
  });

  const waypoints = stageCourses.flatMap((course) =>
    course.waypointsAtKm.map((wp, i) => ({
      id: demoId(`waypoint:${course.key}:${i + 1}`),
      stage: demoId(`stage:${course.key}`),
      name: wp.name,
      location: pointAlong(course, wp.km).geometry,
      tolerance_meters: wp.toleranceMeters,
      sort_order: i + 1,
      penalty_ms: wp.penaltyMs,
    })),
  );

  return {
    device_models: [{ id: modelId, name: 'FMB920', vendor: 'Teltonika' }],
    io_mappings: fmb920IoMapping.map((m) => ({ id: demoId(`io:FMB920:${m.io_id}`), model: modelId, ...m })),
    devices: demoEntries.map((e, i) => ({ id: e.deviceId, imei: e.imei, name: `FMB920 #${String(i + 1).padStart(2, '0')}`, model: modelId })),
    events: [{ id: eventId, name: 'Pitwall Desert Rally (demo)', slug: 'pitwall-desert-rally-demo', starts_at: iso(day), ends_at: iso(day + week), status: 'running' }],
    stages,
    geofences,
    waypoints,
    penalty_formulas: [
      {
        id: demoId('penalty:speeding'),
        event: eventId,
        kind: 'speeding',
        // FIA-style brackets: the faster over the limit, the heavier each second over it.
        params: { basis: 'time', brackets: [{ over_kmh: 0, penalty_ms_per_s: 1000 }, { over_kmh: 20, penalty_ms_per_s: 3000 }, { over_kmh: 40, penalty_ms_per_s: 10000 }] },
      },
    ],
    entries: demoEntries.map((e) => ({ id: e.id, event: eventId, race_number: e.raceNumber, name: e.name, category: e.raceNumber <= 110 ? 'T1' : 'T3' })),
    entry_devices: demoEntries.map((e) => ({ id: demoId(`entry-device:${e.raceNumber}`), entry: e.id, device: e.deviceId, valid_from: null, valid_to: null })),
  };
}
