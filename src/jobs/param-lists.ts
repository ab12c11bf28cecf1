/** A list as a set, in its first order: an id a run is asked for twice is worked on once, and kept once in its params. */
export const once = <T>(list: T[]): T[] => [...new Set(list)];
