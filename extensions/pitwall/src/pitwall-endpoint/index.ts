import { defineEndpoint } from '@directus/extensions-sdk';
import { InvalidPayloadError } from '@directus/errors';
import type { NextFunction, Request, Response } from 'express';
import { BUNDLE_NAME, BUNDLE_VERSION } from '../shared/bundle-info';
import '../shared/zod-messages';
import { telemetryHealth } from '../shared/telemetry-health';
import { classificationRoutes } from './classification-routes';
import { factsRoute } from './facts-route';
import { liveRoutes } from './live-routes';
import { raceSetupRoutes } from './race-setup-routes';
import { runsRoutes } from './runs-routes';
import { statusRoute } from './status-route';

type Handler = (req: Request, res: Response, next: NextFunction) => Promise<void>;

/** An async throw that escapes an endpoint crashes Directus (DIRECTUS-NOTES): every route goes through this. */
const guarded = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => {
  handler(req, res, next).catch(next);
};

export default defineEndpoint({
  id: 'pitwall',
  handler: (router, context) => {
    const { database } = context;
    // Open to anyone, like Directus's own /server/health: it tells whether Pitwall can work, nothing about races.
    router.get(
      '/health',
      guarded(async (_req, res) => {
        const telemetry = await telemetryHealth(database);
        const ok = telemetry.postgis && telemetry.positions && telemetry.decoded_attributes;
        res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'error', bundle: BUNDLE_NAME, version: BUNDLE_VERSION, telemetry });
      }),
    );

    // The processor's (and replay's) way to store timing facts, as itself, so Directus permissions and Flows apply.
    router.post('/facts', guarded(factsRoute(context)));

    // Replay and backfill runs: queued here, worked on by the Pitwall job runner outside Directus.
    runsRoutes(router, 'replay', context, guarded as never);
    runsRoutes(router, 'backfill', context, guarded as never);
    // What the replay panel picks from and lists; the panel talks to this endpoint only.
    raceSetupRoutes(router, context, guarded as never);
    // Stage and overall classifications, as the classification panel shows them.
    classificationRoutes(router, context, guarded as never);
    // The live map's gateway URL, course, trackers and stage states (the positions come from the gateway).
    liveRoutes(router, context, guarded as never);
    // The processors' health for the race office's health panel.
    router.get('/status', guarded(statusRoute(context) as never));
    // A malformed escape in the path (`/replay/%ZZ`) is refused by Express before any route runs, as an error Directus
    // answers 500: it is the caller's, so it is the 400 the routes give for a bad parameter.
    router.use((error: unknown, _req: Request, _res: Response, next: NextFunction) => {
      next(error instanceof URIError ? new InvalidPayloadError({ reason: `path: ${error.message} (a malformed %-escape)` }) : error);
    });
  },
});
