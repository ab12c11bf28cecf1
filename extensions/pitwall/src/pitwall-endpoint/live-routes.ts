import { InvalidPayloadError } from '@directus/errors';
import type { Accountability, EndpointExtensionContext, SchemaOverview } from '@directus/types';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import { liveConfig } from '../shared/live-config';
import { readLiveSetup, readStageStates } from '../shared/read-live-setup';
import { UnauthenticatedError } from './facts-route';
import { recordId } from '../../../../src/domain/uuid-text.ts';

type DirectusRequest = Request & { accountability?: Accountability | null; schema?: SchemaOverview };
type Handler = (req: DirectusRequest, res: Response, next: NextFunction) => Promise<void>;

const eventParam = z.object({ event: recordId() });

/**
 * What the live map panel reads from Directus (the positions come from the gateway): `GET /pitwall/live/config` the
 * gateway's URL from `PITWALL_LIVE_URL`, `GET /pitwall/live/:event` the course and trackers, and
 * `GET /pitwall/live/:event/stage-states` the stored stage results. Signed-in callers only, read as the caller.
 */
export function liveRoutes(router: Router, { services, getSchema, env }: EndpointExtensionContext, guarded: (h: Handler) => Handler): void {
  const reader = async (req: DirectusRequest) => ({ services, schema: req.schema ?? (await getSchema()), accountability: req.accountability ?? null });
  /** The event id of the path, or a 400 naming it, with the issue list as the other routes give it. */
  const eventOf = (req: DirectusRequest, next: NextFunction): string | null => {
    const parsed = eventParam.safeParse(req.params);
    if (parsed.success) return parsed.data.event;
    const message = `expected a uuid, got ${JSON.stringify(String(req.params['event'])).slice(0, 60)}`;
    next(new InvalidPayloadError({ reason: `event: ${message}`, issues: [{ code: 'custom', path: ['event'], message }] } as never));
    return null;
  };

  router.get(
    '/live/config',
    guarded(async (req, res, next) => {
      if (!req.accountability?.user) return next(new UnauthenticatedError());
      res.json(liveConfig(env as Record<string, unknown>));
    }),
  );
  router.get(
    '/live/:event',
    guarded(async (req, res, next) => {
      if (!req.accountability?.user) return next(new UnauthenticatedError());
      const event = eventOf(req, next);
      if (event) res.set('cache-control', 'no-store').json(await readLiveSetup(event, await reader(req)));
    }),
  );
  router.get(
    '/live/:event/stage-states',
    guarded(async (req, res, next) => {
      if (!req.accountability?.user) return next(new UnauthenticatedError());
      const event = eventOf(req, next);
      if (event) res.set('cache-control', 'no-store').json({ results: await readStageStates(event, await reader(req)) });
    }),
  );
}
