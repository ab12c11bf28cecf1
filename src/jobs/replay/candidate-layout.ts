import { v5 as uuidv5 } from 'uuid';
import type { Course, Gate, GateKind, LonLat, Zone } from '../../domain/course.ts';
import type { CandidateGeofence } from './replay-params.ts';

/** Ids for candidate geofences that stand for no stored one (preview of a new line); fixed so reruns agree. */
const CANDIDATE_NAMESPACE = '0c9b6a1e-2f4d-4b8a-9e3c-5d7f1a2b3c4d';

export class CandidateLayoutError extends Error {
  override name = 'CandidateLayoutError';
}

const isLine = (kind: CandidateGeofence['kind']): kind is GateKind => kind === 'start_line' || kind === 'split_line' || kind === 'finish_line';

/**
 * The stored geofence a candidate row without an id stands for: the one line of the same stage and kind (splits:
 * also the same sort_order), or the zone of the same stage, kind and name (or the only one of that kind). A moved
 * finish line then keeps the finish line's id, so its crossings pair with the stored ones.
 */
function adoptedId(row: CandidateGeofence, course: Course, taken: Set<string>): string | null {
  const free = <T extends { id: string }>(list: T[]) => list.filter((g) => !taken.has(g.id));
  if (isLine(row.kind)) {
    const same = free(course.gates.filter((g) => g.stageId === row.stage && g.kind === row.kind && (row.kind !== 'split_line' || g.sortOrder === (row.sort_order ?? null))));
    return same.length === 1 ? same[0]!.id : null;
  }
  const ofKind = free(course.zones.filter((z) => z.stageId === row.stage && z.kind === row.kind));
  const named = ofKind.filter((z) => z.name === row.name);
  if (named.length === 1) return named[0]!.id;
  return ofKind.length === 1 ? ofKind[0]!.id : null;
}

/**
 * The course with a candidate layout in place of the stored geofences of the stages the candidate rows name, as
 * Gate and Zone shapes built exactly as loadRaceSetup builds them. Waypoints and other stages stay as stored.
 * With `requireStoredLines` (apply mode), every candidate line must be a stored geofence, since crossings refer to it.
 */
export function applyCandidateLayout(course: Course, rows: readonly CandidateGeofence[], options: { requireStoredLines?: boolean } = {}): Course {
  const { requireStoredLines = false } = options;
  const stageIds = new Set(course.stages.map((s) => s.id));
  const storedIds = new Set([...course.gates.map((g) => g.id), ...course.zones.map((z) => z.id)]);
  const stages = new Set(rows.map((r) => r.stage));
  for (const stage of stages) {
    if (!stageIds.has(stage)) throw new CandidateLayoutError(`candidate geofences name stage ${stage}, which is not a stage of the replayed event`);
  }
  const taken = new Set(rows.flatMap((r) => (r.id ? [r.id] : [])));
  const gates: Gate[] = course.gates.filter((g) => !stages.has(g.stageId));
  const zones: Zone[] = course.zones.filter((z) => z.stageId === null || !stages.has(z.stageId));
  rows.forEach((row, i) => {
    const id = row.id ?? adoptedId(row, course, taken) ?? uuidv5(`${row.stage}:${row.kind}:${row.name}:${row.sort_order ?? ''}:${i}`, CANDIDATE_NAMESPACE);
    taken.add(id);
    if (isLine(row.kind)) {
      if (requireStoredLines && !storedIds.has(id)) {
        throw new CandidateLayoutError(`candidate ${row.kind} "${row.name}" is not a stored geofence of its stage: apply needs stored lines (crossings refer to them); save the layout first or preview it`);
      }
      gates.push({ id, stageId: row.stage, kind: row.kind, name: row.name, line: row.geometry.coordinates as LonLat[], directionDeg: row.direction_deg ?? null, sortOrder: row.sort_order ?? null });
    } else {
      const eventId = course.stages.find((s) => s.id === row.stage)!.eventId;
      zones.push({ id, eventId, stageId: row.stage, kind: row.kind as Zone['kind'], name: row.name, polygon: row.geometry.coordinates as LonLat[][], speedLimitKmh: row.speed_limit_kmh ?? null });
    }
  });
  return { ...course, gates, zones };
}
