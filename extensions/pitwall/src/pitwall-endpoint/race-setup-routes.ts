import type { Accountability, EndpointExtensionContext, SchemaOverview } from '@directus/types';
import type { NextFunction, Request, Response, Router } from 'express';
import { mayApplyReplay } from '../shared/replay-access';
import { badUuidParam, queryCount } from '../shared/route-params';
import { countsAsNumbers, withRunnerSilence } from '../shared/runs';
import { UnauthenticatedError } from './facts-route';
import { readEvent } from '../shared/read-live-setup';

type DirectusRequest = Request & { accountability?: Accountability | null; schema?: SchemaOverview };
type Handler = (req: DirectusRequest, res: Response, next: NextFunction) => Promise<void>;

const RECENT_LIMIT = 100;

/**
 * What the replay panel shows besides a run, read through ItemsService as the caller (so Directus permissions
 * decide): `GET /pitwall/race-setup` events with their stages and whether the caller may apply a replay (`may_apply`), `GET /pitwall/race-setup/:event/entries` an event's
 * entries (400 naming `event` when it is no uuid, 404 when the caller finds no such event), and `GET /pitwall/replay` the latest runs without their (large) results.
 */
export function raceSetupRoutes(router: Router, { services, database, getSchema }: EndpointExtensionContext, guarded: (h: Handler) => Handler): void {
  const items = async (req: DirectusRequest, collection: string) =>
    new services.ItemsService(collection, { schema: req.schema ?? (await getSchema()), accountability: req.accountability ?? null });
  const authenticated = (req: DirectusRequest) => Boolean(req.accountability?.user);

  router.get(
    '/race-setup',
    guarded(async (req, res, next) => {
      if (!authenticated(req)) return next(new UnauthenticatedError());
      const events = await (await items(req, 'events')).readByQuery({
        fields: ['id', 'name', 'starts_at', 'ends_at'], sort: ['-starts_at'], limit: -1,
      });
      const stages = await (await items(req, 'stages')).readByQuery({
        fields: ['id', 'event', 'name', 'sort_order', 'opens_at', 'closes_at'], sort: ['sort_order', 'opens_at'], limit: -1,
      });
      res.json({ events: events.map((event) => ({ ...event, stages: stages.filter((stage) => stage['event'] === event['id']) })), may_apply: mayApplyReplay(req.accountability) });
    }),
  );
  router.get(
    '/race-setup/:event/entries',
    guarded(async (req, res, next) => {
      if (!authenticated(req)) return next(new UnauthenticatedError());
      const badEvent = badUuidParam('event', req.params['event']);
      if (badEvent) return next(badEvent);
      // An event that is not there for this caller is the 404 the other routes answer, not an empty list.
      await readEvent(String(req.params['event']), { services, schema: req.schema ?? (await getSchema()), accountability: req.accountability ?? null });
      const entries = await (await items(req, 'entries')).readByQuery({
        fields: ['id', 'race_number', 'name'], filter: { event: { _eq: String(req.params['event']) } }, sort: ['race_number'], limit: -1,
      });
      res.json({ entries });
    }),
  );
  router.get(
    '/replay',
    guarded(async (req, res, next) => {
      if (!authenticated(req)) return next(new UnauthenticatedError());
      const { value: limit, error } = queryCount('limit', req.query['limit'], 20, RECENT_LIMIT);
      if (error) return next(error);
      const runs = await (await items(req, 'replay_runs')).readByQuery({
        fields: ['id', 'status', 'params', 'progress', 'processed', 'total', 'error', 'started_at', 'finished_at', 'date_created'], sort: ['-date_created'], limit,
      });
      res.json({ runs: await withRunnerSilence('replay', runs.map(countsAsNumbers), database) });
    }),
  );
}
