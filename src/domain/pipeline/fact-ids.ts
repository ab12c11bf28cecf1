import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for ids derived from fact keys; changing it would duplicate every stored fact. */
export const FACT_NAMESPACE = 'b7c1f0a2-5d3e-4f6a-9b8c-0d1e2f3a4b5c';

/**
 * The Directus item id of a fact: derived from its key, so a redelivered batch, a restarted processor or a repeated
 * replay writes the same rows again instead of new ones.
 */
export function factId(key: string): string {
  return uuidv5(key, FACT_NAMESPACE);
}
