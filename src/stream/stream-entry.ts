/** One entry of a Redis stream: its id and its field/value pairs, or null when Redis no longer has its content. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string> | null;
}

/** An entry as XREADGROUP and XRANGE reply it. */
export type RawEntry = [id: string, fields: string[] | null];

export function toStreamEntries(raw: readonly RawEntry[]): StreamEntry[] {
  return raw.map(([id, flat]) => {
    if (!flat) return { id, fields: null };
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { id, fields };
  });
}
