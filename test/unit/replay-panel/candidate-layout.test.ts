import { describe, expect, it } from 'vitest';
import { useCandidateLayout } from '../../../extensions/pitwall/src/pitwall-replay-panel/use-candidate-layout.ts';

type Api = Parameters<typeof useCandidateLayout>[0];

/** An API whose `/items/geofences` answers with `answer` (rows, or a rejection shaped as axios gives Directus's). */
const apiAnswering = (answer: () => Promise<unknown>) => ({ get: async () => ({ data: { data: await answer() } }) }) as unknown as Api;
const refusal = (code: string, message: string) => () => Promise.reject({ response: { data: { errors: [{ message, extensions: { code } }] } } });

const line = (id: string, kind: string, lon: number) => ({
  id, stage: 'ss1', name: id, kind, speed_limit_kmh: null, sort_order: null, direction_deg: null,
  geometry: { type: 'LineString', coordinates: [[lon, 31.0], [lon, 31.001]] },
});

describe('the replay panel\'s layout to try', () => {
  it('lists the stage\'s lines, start first, each movable along the stage', async () => {
    const layout = useCandidateLayout(apiAnswering(async () => [line('finish', 'finish_line', -3.9), line('start', 'start_line', -4.0)]));
    await layout.load('ss1');
    expect(layout.error.value).toBeNull();
    expect(layout.lines.value.map((l) => l.id)).toEqual(['start', 'finish']);
  });

  it('offers no layout, and shows no error, to a role that may not read geofences', async () => {
    const layout = useCandidateLayout(apiAnswering(refusal('FORBIDDEN', 'You don\'t have permission to access this.')));
    await layout.load('ss1');
    expect(layout.error.value).toBeNull();
    expect(layout.lines.value).toEqual([]);
  });

  it('shows any other failure of the read', async () => {
    const layout = useCandidateLayout(apiAnswering(refusal('INTERNAL_SERVER_ERROR', 'An unexpected error occurred.')));
    await layout.load('ss1');
    expect(layout.error.value).toBe('An unexpected error occurred.');
    expect(layout.lines.value).toEqual([]);
  });

  it('refuses a line moved further than the stage is long, naming it, and takes a move within it', async () => {
    // Start and finish 0.1° of longitude apart at 31° N: about 9.5 km.
    const layout = useCandidateLayout(apiAnswering(async () => [line('start', 'start_line', -4.0), line('finish', 'finish_line', -3.9)]));
    await layout.load('ss1');
    layout.move('start', 99_999_999);
    expect(layout.problem.value).toMatch(/^start: at most 9,5\d\d m either way \(the stage's length from its start line to its finish line, 5,000 m at least\)$/);
    layout.move('start', -9_000);
    expect(layout.problem.value).toBeNull();
    expect(layout.candidate.value?.find((g) => g.id === 'start')?.geometry.coordinates[0]![0]).toBeLessThan(-4.09);
  });
});
