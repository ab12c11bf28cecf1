/**
 * Gathers what is handed in during one turn of the event loop and passes it on in one call when the turn is over.
 *
 * Directus emits one action per item after a `createMany` (an import of 300 IO mappings is 300 actions, emitted one
 * after the other in the same turn). Handled one by one, each opened its own transactions and made its own race
 * event: 300 `io_mapping.changed` events for one import, and a burst that held every connection of Directus's pool.
 */
export function perTurn<T>(handle: (items: T[]) => void): (item: T) => void {
  let gathered: T[] | null = null;
  return (item) => {
    if (gathered) {
      gathered.push(item);
      return;
    }
    gathered = [item];
    setImmediate(() => {
      const items = gathered!;
      gathered = null;
      handle(items);
    });
  };
}
