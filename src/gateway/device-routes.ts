import type { Knex } from 'knex';

/** One tracker assignment: the device (IMEI) carried by an entry of `eventId`, within an optional window. */
export interface DeviceAssignment {
  deviceId: string;
  eventId: string;
  validFrom: number | null;
  validTo: number | null;
}

/**
 * Which event topics a fix goes to: the events of the entries its tracker is assigned to in `entry_devices` at the
 * fix's time. A tracker moved to another car mid-event is shown on the new event from its `valid_from` on.
 */
export class DeviceRoutes {
  private readonly byDevice = new Map<string, DeviceAssignment[]>();
  private readonly byEvent = new Map<string, Set<string>>();
  /** Compared with the next load, so an unchanged table costs nothing further. */
  readonly signature: string;

  constructor(assignments: readonly DeviceAssignment[]) {
    for (const assignment of assignments) {
      const list = this.byDevice.get(assignment.deviceId) ?? [];
      list.push(assignment);
      this.byDevice.set(assignment.deviceId, list);
      const devices = this.byEvent.get(assignment.eventId) ?? new Set();
      devices.add(assignment.deviceId);
      this.byEvent.set(assignment.eventId, devices);
    }
    this.signature = assignments
      .map((a) => `${a.deviceId}|${a.eventId}|${a.validFrom ?? ''}|${a.validTo ?? ''}`)
      .sort()
      .join('\n');
  }

  /** The events a fix of `deviceId` at `ts` belongs to (usually one; none for a tracker on no entry). */
  eventsOf(deviceId: string, ts: number): string[] {
    const list = this.byDevice.get(deviceId);
    if (!list) return [];
    const events: string[] = [];
    for (const a of list) {
      if ((a.validFrom === null || ts >= a.validFrom) && (a.validTo === null || ts < a.validTo) && !events.includes(a.eventId)) events.push(a.eventId);
    }
    return events;
  }

  /** Every tracker ever assigned to an entry of the event (the snapshot's candidates). */
  devicesOf(eventId: string): string[] {
    return [...(this.byEvent.get(eventId) ?? [])];
  }
}

/** Reads every assignment; a few thousand rows at most, read again every few seconds. */
export async function loadDeviceRoutes(db: Knex): Promise<DeviceRoutes> {
  const rows = (await db('entry_devices as ed')
    .join('entries as e', 'e.id', 'ed.entry')
    .join('devices as d', 'd.id', 'ed.device')
    .whereNotNull('e.event')
    .select('d.imei as device_id', 'e.event as event_id', 'ed.valid_from', 'ed.valid_to')) as { device_id: string; event_id: string; valid_from: Date | null; valid_to: Date | null }[];
  return new DeviceRoutes(
    rows.map((row) => ({
      deviceId: row.device_id,
      eventId: String(row.event_id),
      validFrom: row.valid_from ? new Date(row.valid_from).getTime() : null,
      validTo: row.valid_to ? new Date(row.valid_to).getTime() : null,
    })),
  );
}
