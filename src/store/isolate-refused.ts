/** An item that was refused on its own, with the refusal. */
export interface Refused<T> {
  item: T;
  error: unknown;
}

/**
 * Finds the items a store refuses by halving: a refused part is split and each half tried again, down to single
 * items. `attempt` stores a part or throws, leaving no trace when it throws (a savepoint); an error that
 * `isRefusal` does not accept is thrown as it is. With k refused items among n this makes about 2k·log2(n)
 * attempts, and every part that is accepted stays stored. `refusal` is the error of the whole list when it is known
 * already, so it is not tried again.
 */
export async function isolateRefused<T>(
  items: readonly T[],
  attempt: (part: readonly T[]) => Promise<void>,
  isRefusal: (error: unknown) => boolean,
  refusal?: { error: unknown },
): Promise<Refused<T>[]> {
  if (items.length === 0) return [];
  let error = refusal?.error;
  if (refusal === undefined) {
    try {
      await attempt(items);
      return [];
    } catch (thrown) {
      if (!isRefusal(thrown)) throw thrown;
      error = thrown;
    }
  }
  if (items.length === 1) return [{ item: items[0]!, error }];
  // Both halves are tried even when the first is accepted: two rows may be refused only together.
  const middle = Math.ceil(items.length / 2);
  const first = await isolateRefused(items.slice(0, middle), attempt, isRefusal);
  const second = await isolateRefused(items.slice(middle), attempt, isRefusal);
  return [...first, ...second];
}
