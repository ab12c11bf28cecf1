/**
 * Tracks, cars and the course as an SVG drawing, without map tiles (race offices are often offline): longitude and
 * latitude projected equirectangularly (longitude scaled by cos of the middle latitude, so distances look right at
 * rally latitudes), fitted into a box of a fixed width with north up. Shared by the replay and live map panels.
 */

export type LonLat = readonly [lon: number, lat: number, ...rest: number[]];

export interface ProjectOptions {
  /** Width of the drawing in SVG units; the height follows the tracks' shape within minHeight..maxHeight. */
  width?: number;
  minHeight?: number;
  maxHeight?: number;
  padding?: number;
}

export interface Projection {
  width: number;
  height: number;
  /** Lon/lat to SVG x/y. */
  project(lon: number, lat: number): [x: number, y: number];
  /** Approximate metres per SVG unit, for a scale bar. */
  metresPerUnit: number;
}

const EARTH_METRES_PER_DEGREE = 111_320;

export function projectTracks(points: Iterable<LonLat>, options: ProjectOptions = {}): Projection | null {
  const { width = 1000, minHeight = 240, maxHeight = 640, padding = 24 } = options;
  let minLon = Infinity;
  let maxLon = -Infinity;
  let minLat = Infinity;
  let maxLat = -Infinity;
  for (const [lon, lat] of points) {
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) continue;
    minLon = Math.min(minLon, lon);
    maxLon = Math.max(maxLon, lon);
    minLat = Math.min(minLat, lat);
    maxLat = Math.max(maxLat, lat);
  }
  if (!Number.isFinite(minLon)) return null;

  const cosLat = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  // A single point or a straight north-south line still gets a box of about 100 m.
  const spanX = Math.max((maxLon - minLon) * cosLat, 0.001);
  const spanY = Math.max(maxLat - minLat, 0.001);
  const inner = width - 2 * padding;
  const height = Math.min(maxHeight, Math.max(minHeight, Math.round((inner * spanY) / spanX) + 2 * padding));
  const scale = Math.min(inner / spanX, (height - 2 * padding) / spanY);
  // Centre the tracks in the box.
  const offsetX = (width - spanX * scale) / 2;
  const offsetY = (height - spanY * scale) / 2;
  const midLon = (minLon + maxLon) / 2;
  const midLat = (minLat + maxLat) / 2;
  const originX = midLon * cosLat - spanX / 2;
  const originY = midLat + spanY / 2;
  const round = (v: number) => Math.round(v * 10) / 10;

  return {
    width,
    height,
    project: (lon, lat) => [round(offsetX + (lon * cosLat - originX) * scale), round(offsetY + (originY - lat) * scale)],
    metresPerUnit: EARTH_METRES_PER_DEGREE / scale,
  };
}

/** A part of a drawing looked at closer: `zoom` times larger, the drawing's point `centre` in the middle. */
export interface View {
  zoom: number;
  centre: readonly [x: number, y: number];
}

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 64;

/** The whole drawing. */
export const fullView = (projection: Projection): View => ({ zoom: 1, centre: [projection.width / 2, projection.height / 2] });

/**
 * The projection of a view of the drawing, of the same size: everything drawn through it (course, trails, cars, the
 * scale bar) follows the view, while marks and labels keep their size. A car outside the view is pinned at its edge
 * (pinToFrame) as one off the course is.
 */
export function zoomProjection(projection: Projection, view: View): Projection {
  if (view.zoom === 1 && view.centre[0] === projection.width / 2 && view.centre[1] === projection.height / 2) return projection;
  const { zoom, centre } = view;
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    width: projection.width,
    height: projection.height,
    project: (lon, lat) => {
      const [x, y] = projection.project(lon, lat);
      return [round((x - centre[0]) * zoom + projection.width / 2), round((y - centre[1]) * zoom + projection.height / 2)];
    },
    metresPerUnit: projection.metresPerUnit / zoom,
  };
}

/**
 * The view zoomed by `factor` about the drawn point `at` (where the pointer is: that point stays under it), within
 * MIN_ZOOM..MAX_ZOOM and kept over the drawing, so that zooming out ends on the whole drawing.
 */
export function zoomView(projection: Projection, view: View, factor: number, at: readonly [x: number, y: number] = [projection.width / 2, projection.height / 2]): View {
  const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor));
  // The drawing's point under `at` before and after.
  const underX = view.centre[0] + (at[0] - projection.width / 2) / view.zoom;
  const underY = view.centre[1] + (at[1] - projection.height / 2) / view.zoom;
  return keptOver(projection, { zoom, centre: [underX - (at[0] - projection.width / 2) / zoom, underY - (at[1] - projection.height / 2) / zoom] });
}

/** The view moved by `dx`, `dy` drawn units (a drag), kept over the drawing. */
export function panView(projection: Projection, view: View, dx: number, dy: number): View {
  return keptOver(projection, { zoom: view.zoom, centre: [view.centre[0] - dx / view.zoom, view.centre[1] - dy / view.zoom] });
}

function keptOver(projection: Projection, view: View): View {
  const halfW = projection.width / 2 / view.zoom;
  const halfH = projection.height / 2 / view.zoom;
  const clamp = (v: number, half: number, size: number) => Math.min(size - half, Math.max(half, v));
  return { zoom: view.zoom, centre: [clamp(view.centre[0], halfW, projection.width), clamp(view.centre[1], halfH, projection.height)] };
}

/** Where a point is drawn so that it stays in the drawing: itself, or pinned at the edge towards it. */
export interface Pinned {
  x: number;
  y: number;
  /** Whether the point lies outside the drawing (less `margin`) and was pinned at its edge. */
  off: boolean;
  /** Degrees clockwise from north, from the pinned place towards the point; 0 when not pinned. */
  bearing: number;
  /** Metres from the pinned place to the point, about; 0 when not pinned. */
  metres: number;
}

/**
 * A point of the drawing kept inside it, `margin` units from its edge: a map fitted to the course must still show a
 * car that left it (lost, on the wrong road, off to the bivouac), where it would otherwise be drawn outside the
 * picture and silently missing.
 */
export function pinToFrame(projection: Projection, x: number, y: number, margin = 14): Pinned {
  const px = Math.min(Math.max(x, margin), projection.width - margin);
  const py = Math.min(Math.max(y, margin), projection.height - margin);
  if (px === x && py === y) return { x, y, off: false, bearing: 0, metres: 0 };
  const bearing = (((Math.atan2(x - px, py - y) * 180) / Math.PI) + 360) % 360;
  return { x: px, y: py, off: true, bearing: Math.round(bearing), metres: Math.hypot(x - px, y - py) * projection.metresPerUnit };
}

/** "x,y x,y …" for an SVG polyline. */
export function polylinePoints(projection: Projection, points: readonly LonLat[]): string {
  return points.map(([lon, lat]) => projection.project(lon, lat).join(',')).join(' ');
}

/** A round scale bar length (1, 2 or 5 × 10^n metres) that is about `units` SVG units long. */
export function scaleBar(projection: Projection, units = 150): { metres: number; units: number; label: string } {
  const target = projection.metresPerUnit * units;
  const power = 10 ** Math.floor(Math.log10(target));
  const metres = [5, 2, 1].map((m) => m * power).find((m) => m <= target) ?? power;
  return { metres, units: metres / projection.metresPerUnit, label: metres >= 1000 ? `${metres / 1000} km` : `${metres} m` };
}

/** Distinct colours for up to a dozen tracks, then repeated. */
const palette = ['#3399ff', '#e35169', '#2ecda7', '#ffa439', '#6644ff', '#00c2d1', '#b3478c', '#7fba00', '#d4a017', '#ff6f3c', '#4b6bfb', '#8c8c8c'];
export const trackColour = (index: number): string => palette[index % palette.length]!;

export const crossingColours: Record<string, string> = { start: '#2ecda7', split: '#ffa439', finish: '#e35169' };
export const crossingColour = (kind: string): string => crossingColours[kind] ?? '#a2b5cd';
