import { beforeAll, describe, expect, inject, it } from 'vitest';
import { booleanIntersects, lineString, point, pointToLineDistance } from '@turf/turf';
import { stageCourses } from '../../src/demo/course.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');

describe('the demo race seeded by setup', () => {
  let token: string;
  const items = async (path: string) => (await call(stack, path, { token })).json.data;
  beforeAll(async () => {
    token = await adminToken(stack);
  });

  it('has one event with two stages, each with a start and a finish line', async () => {
    const events = await items('/items/events?fields=id,name,stages.name,stages.geofences.kind');
    expect(events).toHaveLength(1);
    const stages = events[0].stages as { name: string; geofences: { kind: string }[] }[];
    expect(stages).toHaveLength(2);
    for (const stage of stages) {
      const kinds = stage.geofences.map((g) => g.kind);
      expect(kinds.filter((k) => k === 'start_line')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'finish_line')).toHaveLength(1);
    }
  });

  it('has a split line, three waypoints and a speed zone', async () => {
    const geofences = await items('/items/geofences?fields=kind,speed_limit_kmh,geometry&limit=-1');
    expect(geofences.filter((g: { kind: string }) => g.kind === 'split_line').length).toBeGreaterThanOrEqual(1);
    const zones = geofences.filter((g: { kind: string }) => g.kind === 'speed_zone');
    expect(zones).toHaveLength(1);
    expect(zones[0].speed_limit_kmh).toBe(50);
    expect(zones[0].geometry.type).toBe('Polygon');
    expect(await items('/items/waypoints?fields=id&limit=-1')).toHaveLength(3);
  });

  it('draws each gate across its road, so a car on the road crosses it', async () => {
    const gates = await items('/items/geofences?fields=name,kind,geometry,direction_deg,stage.sort_order&filter[kind][_in]=start_line,split_line,finish_line&limit=-1');
    for (const gate of gates) {
      const course = stageCourses[gate.stage.sort_order - 1]!;
      expect(gate.geometry.type).toBe('LineString');
      expect(booleanIntersects(lineString(gate.geometry.coordinates), course.road), gate.name).toBe(true);
      expect(gate.direction_deg).toBeGreaterThanOrEqual(0);
      expect(gate.direction_deg).toBeLessThan(360);
    }
  });

  it('puts every waypoint on its road', async () => {
    const waypoints = await items('/items/waypoints?fields=name,location,stage.sort_order&limit=-1');
    for (const wp of waypoints) {
      const course = stageCourses[wp.stage.sort_order - 1]!;
      expect(pointToLineDistance(point(wp.location.coordinates), course.road, { units: 'meters' }), wp.name).toBeLessThan(1);
    }
  });

  it('has 20 entries, each carrying one FMB920 tracker with a valid IMEI', async () => {
    const entries = await items('/items/entries?fields=race_number,devices.device.imei,devices.device.model.name&limit=-1');
    expect(entries).toHaveLength(20);
    const imeis = new Set<string>();
    for (const entry of entries) {
      expect(entry.devices).toHaveLength(1);
      const device = entry.devices[0].device;
      expect(device.model.name).toBe('FMB920');
      expect(device.imei).toMatch(/^\d{15}$/);
      imeis.add(device.imei);
    }
    expect(imeis.size).toBe(20);
  });

  it('has an FMB920 IO mapping with signed, scaled, boolean, 64-bit, hex and ASCII elements and sentinels', async () => {
    const rows = await items('/items/io_mappings?fields=io_id,value_type,byte_size,multiplier,invalid_values&filter[model][name][_eq]=FMB920&limit=-1');
    const types = new Set(rows.map((r: { value_type: string }) => r.value_type));
    expect([...types].sort()).toEqual(['ascii', 'boolean', 'hex', 'signed', 'unsigned']);
    expect(rows.some((r: { byte_size: number }) => r.byte_size === 8)).toBe(true);
    expect(rows.some((r: { multiplier: string }) => Number(r.multiplier) !== 1)).toBe(true);
    const dallas = rows.find((r: { io_id: number }) => r.io_id === 72);
    expect(dallas).toMatchObject({ value_type: 'signed', byte_size: 4, invalid_values: [850, 2000, 3000, 4000, 5000] });
    expect(Number(dallas.multiplier)).toBe(0.1); // numeric, exact: a float column would give 0.10000000149
  });
});
