/** One point of a replayed track: longitude, latitude (6 decimals, about 0.1 m) and GPS time in epoch ms. */
export type TrackPoint = [lon: number, lat: number, tsMs: number];

const round6 = (value: number): number => Math.round(value * 1e6) / 1e6;

/**
 * Thins a track to at most `max` evenly spaced points while it streams past, without knowing its length up front:
 * every `stride`-th fix is kept, and when the buffer is full every other kept point is dropped and the stride
 * doubles. The first and the last fix are always among the points.
 */
export class TrackDecimator {
  private readonly lons: number[] = [];
  private readonly lats: number[] = [];
  private readonly times: number[] = [];
  private stride = 1;
  private seen = 0;
  private lastLon = 0;
  private lastLat = 0;
  private lastTs = 0;

  constructor(private readonly max = 400) {
    if (!Number.isInteger(max) || max < 2) throw new RangeError(`TrackDecimator needs max >= 2, got ${max}`);
  }

  get count(): number {
    return this.seen;
  }

  push(lon: number, lat: number, ts: number): void {
    if (this.seen % this.stride === 0) {
      this.lons.push(lon);
      this.lats.push(lat);
      this.times.push(ts);
      // One place stays free for the last fix.
      if (this.lons.length > this.max - 1) this.halve();
    }
    this.seen++;
    this.lastLon = lon;
    this.lastLat = lat;
    this.lastTs = ts;
  }

  points(): TrackPoint[] {
    const points: TrackPoint[] = this.times.map((ts, i) => [round6(this.lons[i]!), round6(this.lats[i]!), ts]);
    if (this.seen > 0 && this.times.at(-1) !== this.lastTs) points.push([round6(this.lastLon), round6(this.lastLat), this.lastTs]);
    return points;
  }

  private halve(): void {
    let kept = 0;
    for (let i = 0; i < this.lons.length; i += 2, kept++) {
      this.lons[kept] = this.lons[i]!;
      this.lats[kept] = this.lats[i]!;
      this.times[kept] = this.times[i]!;
    }
    this.lons.length = this.lats.length = this.times.length = kept;
    this.stride *= 2;
  }
}
