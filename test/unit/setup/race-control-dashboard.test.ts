import { describe, expect, it } from 'vitest';
import { raceControlPanels } from '../../../src/setup/race-control-dashboard.ts';

describe('the Race Control dashboard’s panels', () => {
  it('open the classification and replay panels on the given event and stage, as the options form stores them', () => {
    const panels = raceControlPanels({ event: 'e1', stage: 's1' });
    const race = { defaultEvent: { key: 'e1', collection: 'events' }, defaultStage: { key: 's1', collection: 'stages' } };
    expect(panels.filter((p) => p['type'] === 'pitwall-classification' || p['type'] === 'pitwall-replay').map((p) => p['options'])).toEqual([race, race]);
    expect(raceControlPanels({ event: 'e1', stage: null })[0]!['options']).toEqual({ defaultEvent: { key: 'e1', collection: 'events' } });
  });

  it('open the live map on the event, its gateway and stale time left to the panel’s defaults', () => {
    const live = raceControlPanels({ event: 'e1', stage: 's1' }).filter((p) => p['type'] === 'pitwall-live-map');
    expect(live).toHaveLength(1);
    expect(live[0]!['options']).toEqual({ defaultEvent: { key: 'e1', collection: 'events' } });
  });

  it('leave the event to pick without defaults (a deployment without the demo)', () => {
    const panels = raceControlPanels(null);
    expect(panels.map((p) => p['type'])).toEqual(['pitwall-classification', 'pitwall-health', 'list', 'pitwall-live-map', 'pitwall-replay']);
    expect(panels[0]!['options']).toEqual({});
    expect(panels[3]!['options']).toEqual({});
    expect(panels[4]!['options']).toEqual({});
  });

  it('lay the panels out without overlap: the classification across the top, the live map below it with health and anomalies beside it, the replay last', () => {
    const panels = raceControlPanels(null).map((p) => ({ type: p['type'], x: Number(p['position_x']), y: Number(p['position_y']), w: Number(p['width']), h: Number(p['height']) }));
    for (const [i, a] of panels.entries()) {
      expect(a.x).toBeGreaterThanOrEqual(1);
      expect(a.y).toBeGreaterThanOrEqual(1);
      for (const b of panels.slice(i + 1)) expect(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
    }
    const firstRow = panels.filter((p) => p.y < panels[0]!.y + panels[0]!.h);
    expect(panels[0]!.w * panels[0]!.h).toBe(Math.max(...firstRow.map((p) => p.w * p.h)));
    const [live, replay] = [panels.find((p) => p.type === 'pitwall-live-map')!, panels.find((p) => p.type === 'pitwall-replay')!];
    const [health, anomalies] = [panels.find((p) => p.type === 'pitwall-health')!, panels.find((p) => p.type === 'list')!];
    // The classification alone across the top, as wide as the dashboard: its nine columns did not fit beside health.
    const right = Math.max(...panels.map((p) => p.x + p.w));
    expect(firstRow).toEqual([panels[0]]);
    expect(panels[0]!.x + panels[0]!.w).toBe(right);
    // Right under it the map, health and the anomalies beside the map; the replay (a tool, not a screen to watch) last.
    expect(live.y).toBe(panels[0]!.y + panels[0]!.h);
    expect([health.y, health.x]).toEqual([live.y, live.x + live.w]);
    expect([anomalies.y, anomalies.x]).toEqual([health.y + health.h, health.x]);
    expect(replay.y).toBe(Math.max(live.y + live.h, anomalies.y + anomalies.h));
  });

  it('fit a 1366-pixel laptop screen beside Directus’s navigation and its folded sidebar', () => {
    // Directus's grid is 20 px a unit, and the dashboard has 32 px of padding each side; its navigation takes 278 px
    // and the folded sidebar 60 px (measured in chromium, Directus 11.17).
    const right = Math.max(...raceControlPanels(null).map((p) => Number(p['position_x']) + Number(p['width']) - 1));
    expect(right * 20 + 64).toBeLessThanOrEqual(1366 - 278 - 60);
  });
});
