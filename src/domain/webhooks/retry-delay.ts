/**
 * How long to wait before delivery attempt `attempt` (1 = the first retry): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter": at least half of that, the rest random, so that many subscribers failing together do
 * not retry in lockstep, while the attempts still spread over the time they are given (with full jitter, six attempts
 * could all be spent in the first seven seconds of an integrator's restart). `random` is passed in (0 <= random < 1)
 * because the domain has no randomness of its own.
 */
export function retryDelay(attempt: number, random: number, options: { baseMs?: number; maxMs?: number } = {}): number {
  const { baseMs = 1000, maxMs = 5 * 60_000 } = options;
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`retryDelay: attempt must be 1 or more, got ${attempt}`);
  if (!(random >= 0 && random < 1)) throw new RangeError(`retryDelay: random must be in [0, 1), got ${random}`);
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.floor(ceiling / 2 + (random * ceiling) / 2);
}
