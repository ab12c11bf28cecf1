/**
 * Writes docs/events.md, the integrators' reference of race events, from the zod catalogue: never edit it by
 * hand. `npm run docs` regenerates it; a unit test fails when it is out of date.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderEventDocs } from '../src/domain/events/render-event-docs.ts';
import { repoRoot } from '../src/devstack/directus-process.ts';

const target = join(repoRoot, 'docs/events.md');
writeFileSync(target, renderEventDocs());
console.log(`wrote ${target}`);
