/** A small seeded PRNG (mulberry32): the simulator must give the same tracks for the same seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Roughly normal noise (sum of uniforms), enough for GPS jitter. */
export function gaussian(random: () => number, sigma: number): number {
  return (random() + random() + random() + random() - 2) * sigma * 0.866;
}
