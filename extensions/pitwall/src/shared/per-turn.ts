/**
 * Gathers what is handed in during one turn of the event loop and passes it on in one call when the turn is over.
 *
 * Directus emits one action per item after a `createMany` (an import of 300 IO mappings is 300 actions, emitted one
 * after the other in the same turn). Handled one by one, each opened its own transactions and made its own race
 * event: 300 `io_mapping.changed` events for one import, and a burst that held every connection of Directus's pool.
 *
 * With `settle`, what was gathered is first waited for (settle must report its own failures and not reject), and what
 * is handed in meanwhile joins the same call once it is settled too. Directus emits the actions of a `PATCH` with a
 * list of rows one row at a time, before the request commits: the first row's wait for the commit gathers the rest.
 */
export function perTurn<T>(handle: (items: T[]) => void, settle?: (items: T[]) => Promise<void>): (item: T) => void {
  let gathered: T[] | null = null;
  return (item) => {
    if (gathered) {
      gathered.push(item);
      return;
    }
    const items = (gathered = [item]);
    setImmediate(async () => {
      for (let settled = 0; settle && settled < items.length; ) {
        const next = items.slice(settled);
        settled = items.length;
        await settle(next);
      }
      gathered = null;
      handle(items);
    });
  };
}
