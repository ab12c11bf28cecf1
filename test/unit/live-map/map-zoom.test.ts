import { describe, expect, it } from 'vitest';
import { fullView, MAX_ZOOM, panView, pinToFrame, projectTracks, scaleBar, zoomProjection, zoomView } from '../../../extensions/pitwall/src/shared/project-tracks.ts';

// About 10 km by 5 km at 43° N.
const projection = projectTracks([[5.0, 43.0], [5.123, 43.045]])!;

describe('zoomProjection', () => {
  it('draws the whole drawing as the projection itself', () => {
    expect(zoomProjection(projection, fullView(projection))).toBe(projection);
  });

  it('spreads what it shows by the zoom around the view’s centre, at the same size, with the scale to match', () => {
    const view = zoomView(projection, fullView(projection), 4);
    const zoomed = zoomProjection(projection, view);
    expect([zoomed.width, zoomed.height]).toEqual([projection.width, projection.height]);
    const a = projection.project(5.06, 43.02);
    const b = projection.project(5.061, 43.021);
    const [za, zb] = [zoomed.project(5.06, 43.02), zoomed.project(5.061, 43.021)];
    expect(Math.hypot(zb[0] - za[0], zb[1] - za[1])).toBeCloseTo(4 * Math.hypot(b[0] - a[0], b[1] - a[1]), 0);
    expect(zoomed.metresPerUnit).toBeCloseTo(projection.metresPerUnit / 4, 9);
    expect(scaleBar(zoomed).metres).toBeLessThan(scaleBar(projection).metres);
    // The drawing's middle stays in the middle when zoomed about it.
    const middle = zoomed.project(...unproject(projection.width / 2, projection.height / 2));
    expect(middle[0]).toBeCloseTo(projection.width / 2, 0);
    expect(middle[1]).toBeCloseTo(projection.height / 2, 0);
  });

  it('pins a car outside the view at its edge, as one off the course', () => {
    const zoomed = zoomProjection(projection, zoomView(projection, fullView(projection), 8, [0, 0]));
    const far = zoomed.project(5.123, 43.0);
    expect(pinToFrame(zoomed, ...far).off).toBe(true);
  });
});

describe('zoomView and panView', () => {
  it('keeps the point under the pointer where it is', () => {
    const at = [250, 100] as const;
    const before = projection.project(...unproject(...at));
    const view = zoomView(projection, fullView(projection), 2, at);
    const after = zoomProjection(projection, view).project(...unproject(...at));
    expect(after[0]).toBeCloseTo(before[0], 0);
    expect(after[1]).toBeCloseTo(before[1], 0);
  });

  it('stays within 1 and MAX_ZOOM, and zooming out all the way ends on the whole drawing', () => {
    let view = fullView(projection);
    for (let i = 0; i < 20; i++) view = zoomView(projection, view, 2, [900, 50]);
    expect(view.zoom).toBe(MAX_ZOOM);
    for (let i = 0; i < 20; i++) view = zoomView(projection, view, 0.5, [10, 10]);
    expect(view).toEqual(fullView(projection));
  });

  it('moves the view with a drag, never past the drawing’s edge', () => {
    const view = zoomView(projection, fullView(projection), 4);
    const moved = panView(projection, view, 100, 0);
    expect(moved.centre[0]).toBeCloseTo(view.centre[0] - 25, 6);
    const far = panView(projection, view, 1e6, -1e6);
    expect(far.centre).toEqual([projection.width / 8, projection.height - projection.height / 8]);
    expect(panView(projection, fullView(projection), 50, 50)).toEqual(fullView(projection));
  });
});

/** The lon/lat the full drawing shows at x, y (the projection is linear). */
function unproject(x: number, y: number): [number, number] {
  const [x0, y0] = projection.project(5, 43);
  const [x1, y1] = projection.project(5.1, 43.1);
  return [5 + ((x - x0) / (x1 - x0)) * 0.1, 43 + ((y - y0) / (y1 - y0)) * 0.1];
}
