import { z } from 'zod';

/**
 * zod's English messages. zod's package says it has no side effects, so the bundle drops the import that installs
 * them, and every refusal of the bundle's routes said "Invalid input" ("run: Invalid input" for a run id that is no
 * uuid) instead of what is wrong. Imported by the hook and the endpoint, which load with the bundle.
 */
z.config(z.locales.en());
