import { InvalidPayloadError } from '@directus/errors';
import type { Accountability, EndpointExtensionContext, SchemaOverview } from '@directus/types';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import { readClassification } from '../shared/read-classification';
import { UnauthenticatedError } from './facts-route';
import { isUuid } from '../../../../src/domain/uuid-text.ts';

type DirectusRequest = Request & { accountability?: Accountability | null; schema?: SchemaOverview };
type Handler = (req: DirectusRequest, res: Response, next: NextFunction) => Promise<void>;

/** One uuid: a parameter given twice (`?event=a&event=b`) arrives as a list. */
const oneUuid = (name: string) =>
  z.unknown().superRefine((value, ctx) => {
    if (value === undefined) ctx.addIssue({ code: 'custom', message: 'is required' });
    else if (Array.isArray(value)) ctx.addIssue({ code: 'custom', message: `give one ${name}, not a list (${value.length} given)` });
    else if (!isUuid(value)) ctx.addIssue({ code: 'custom', message: `expected a uuid, got ${JSON.stringify(String(value)).slice(0, 60)}` });
  }).transform((value) => String(value));
const querySchema = z.object({ event: oneUuid('event'), stage: oneUuid('stage').optional() });

/**
 * `GET /pitwall/classification?event=<uuid>&stage=<uuid>`: a stage's classification; without `stage`, the event's
 * overall classification. Read as the caller: 401 anonymous, 403 when Directus refuses a read, 400 naming the bad
 * parameter, 404 for an event (or a stage of it) the caller cannot find.
 */
export function classificationRoutes(router: Router, { services, getSchema }: EndpointExtensionContext, guarded: (h: Handler) => Handler): void {
  router.get(
    '/classification',
    guarded(async (req, res, next) => {
      if (!req.accountability?.user) return next(new UnauthenticatedError());
      const parsed = querySchema.safeParse(req.query);
      if (!parsed.success) {
        const issues = parsed.error.issues;
        const reason = issues.map((issue) => `${issue.path.map(String).join('.') || '(query)'}: ${issue.message}`).join('; ');
        return next(new InvalidPayloadError({ reason, issues } as never));
      }
      const reader = { services, schema: req.schema ?? (await getSchema()), accountability: req.accountability };
      // Polled by every open dashboard: never served from a cache.
      res.set('cache-control', 'no-store').json(await readClassification(parsed.data, reader));
    }),
  );
}
