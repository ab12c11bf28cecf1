import type { useApi } from '@directus/extensions-sdk';
import { computed, ref } from 'vue';
import type { LonLat } from '../../../../src/domain/course.ts';
import { forwardAcross, lineMiddle, moveLimit, movedBy, movedLine } from '../../../../src/domain/geofence/moved-line.ts';
import { errorCode, guardedCall } from './format.ts';
import type { ReplayRequest } from './types.ts';

type Api = ReturnType<typeof useApi>;
type Candidate = NonNullable<ReplayRequest['geofences']>[number];

/** A stage's geofence as `/items/geofences` answers it (geometry as GeoJSON). */
interface StoredGeofence {
  id: string;
  stage: string;
  name: string;
  kind: Candidate['kind'];
  geometry: Candidate['geometry'];
  speed_limit_kmh: number | null;
  sort_order: number | null;
  direction_deg: number | null;
}

const LINE_KINDS = ['start_line', 'split_line', 'finish_line'] as const;
const KIND_ORDER: Record<string, number> = { start_line: 0, split_line: 1, finish_line: 2 };
const isLine = (g: StoredGeofence): boolean => (LINE_KINDS as readonly string[]).includes(g.kind) && g.geometry.type === 'LineString';
const lineOf = (g: StoredGeofence): LonLat[] => g.geometry.coordinates as LonLat[];

/**
 * A layout to try in a preview: the stage's start, split and finish lines, each moved a number of metres along the
 * stage (further from the start; the start line towards the finish), sent as the replay's candidate geofences with
 * the stage's other geofences as stored. The stored layout is not changed: a timekeeper checks where a line should
 * be before an admin moves it.
 */
export function useCandidateLayout(api: Api) {
  const geofences = ref<StoredGeofence[]>([]);
  /** Metres each line is moved by, by geofence id. */
  const moves = ref<Record<string, number>>({});
  const stage = ref<string | null>(null);
  const loading = ref(false);
  const error = ref<string | null>(null);

  async function load(stageId: string | null): Promise<void> {
    stage.value = stageId;
    geofences.value = [];
    moves.value = {};
    if (!stageId) return;
    await guardedCall(loading, error, async () => {
      let rows: StoredGeofence[];
      try {
        rows = (
          await api.get<{ data: StoredGeofence[] }>('/items/geofences', {
            params: { filter: { stage: { _eq: stageId } }, fields: ['id', 'stage', 'name', 'kind', 'geometry', 'speed_limit_kmh', 'sort_order', 'direction_deg'], limit: -1 },
          })
        ).data.data;
      } catch (e) {
        // A role of the admin's own without geofences: the panel replays as before, with no layout to try, rather
        // than greet every pick of a stage with Directus's refusal in red.
        if (errorCode(e) === 'FORBIDDEN') return;
        throw e;
      }
      // A later pick won the race: keep its geofences.
      if (stage.value === stageId) geofences.value = rows;
    });
  }

  /** The stage's timing lines, with its start and finish line among them (undefined where it has none). */
  const stageLines = computed(() => {
    const lines = geofences.value.filter(isLine);
    return { lines, start: lines.find((g) => g.kind === 'start_line'), finish: lines.find((g) => g.kind === 'finish_line') };
  });

  /** The bearing that is "further along the stage" for each line; none when the stage has no start or finish line. */
  const forwards = computed(() => {
    const { lines, start, finish } = stageLines.value;
    return new Map(
      lines.flatMap((g) => {
        if (g !== start && start) return [[g.id, forwardAcross(lineOf(g), { awayFrom: lineMiddle(lineOf(start)) })] as const];
        if (finish && g !== finish) return [[g.id, forwardAcross(lineOf(g), { towards: lineMiddle(lineOf(finish)) })] as const];
        return [];
      }),
    );
  });

  /** The most a line may be moved either way (moveLimit); null without a start and a finish line. */
  const limit = computed(() => {
    const { start, finish } = stageLines.value;
    return start && finish ? moveLimit(lineOf(start), lineOf(finish)) : null;
  });

  /** Why the moves cannot be tried, naming the first line moved too far; null when they can. */
  const problem = computed(() => {
    const max = limit.value;
    const far = max === null ? undefined : geofences.value.find((g) => Math.abs(moves.value[g.id] ?? 0) > max);
    return far ? `${far.name}: at most ${max!.toLocaleString('en')} m either way (the stage's length from its start line to its finish line, 5,000 m at least)` : null;
  });

  /** The lines a timekeeper may move, start first. */
  const lines = computed(() =>
    geofences.value
      .filter((g) => isLine(g) && forwards.value.has(g.id))
      .sort((a, b) => KIND_ORDER[a.kind]! - KIND_ORDER[b.kind]! || (a.sort_order ?? 0) - (b.sort_order ?? 0))
      .map((g) => ({ id: g.id, name: g.name, kind: g.kind })),
  );

  function move(id: string, metres: number): void {
    moves.value = { ...moves.value, [id]: Number.isFinite(metres) ? metres : 0 };
  }

  /** The candidate layout when a line is moved; null when the layout is the stored one. */
  const candidate = computed<Candidate[] | null>(() => {
    if (!Object.values(moves.value).some((m) => m !== 0)) return null;
    return geofences.value.map((g) => {
      const metres = moves.value[g.id] ?? 0;
      const forward = forwards.value.get(g.id);
      return metres !== 0 && forward !== undefined ? { ...g, geometry: { type: 'LineString', coordinates: movedLine(lineOf(g), metres, forward) } } : g;
    });
  });

  /** The moves of an earlier run's candidate layout, so that a reopened run shows what it tried (to the decimetre). */
  function show(rows: Candidate[] | undefined): void {
    const next: Record<string, number> = {};
    for (const row of rows ?? []) {
      const stored = geofences.value.find((g) => g.id === row.id);
      const forward = stored ? forwards.value.get(stored.id) : undefined;
      if (!stored || forward === undefined || row.geometry.type !== 'LineString') continue;
      const metres = Math.round(movedBy(lineOf(stored), row.geometry.coordinates as LonLat[], forward) * 10) / 10;
      if (metres !== 0) next[stored.id] = metres;
    }
    moves.value = next;
  }

  return { lines, moves, candidate, problem, loading, error, load, move, show };
}
